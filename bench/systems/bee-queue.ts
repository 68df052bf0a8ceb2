/**
 * bee-queue: worker = bench/workers/bee-queue-worker.ts (run compiled, as every bench worker); producer = this process. Bulk = `saveAll`
 * in chunks of 1000. With results: succeeded jobs are kept and the result event is published (no
 * result store exists); completion is the succeeded-set count. Ignored: `removeOnSuccess`, no events,
 * completion counted by the task's INCR. Throughput producers use `storeJobs: false, getEvents: false`
 * (they need no per-job callbacks); the latency producer listens to the queue's `job succeeded` events.
 * Readiness = one job succeeded (counted like the throughput runs).
 */
import Queue from 'bee-queue';
import { redisAddress } from '../lib/connection.js';
import { withCpu } from '../lib/cpu.js';
import { benchScript, spawnWorker } from '../lib/process.js';
import { systemDbs, type BenchOptions, type BenchSystem, type EnqueueTimings, type WorkerTimings } from '../lib/types.js';
import { redisClient, since, timeCountedRun, timeRoundTrips, waitFor } from '../lib/util.js';

const CHUNK = 1000;

export async function createBeeQueueSystem(o: BenchOptions): Promise<BenchSystem> {
  const [db = 0] = systemDbs('bee-queue', o.dbBase);
  const redis = redisAddress(o.redis, db);
  const lean = { redis, isWorker: false, getEvents: false, storeJobs: false };
  const noop = new Queue('noop', lean);
  const noopIgnored = new Queue('noop_ignored', lean);
  const counter = redisClient(o.redis, db);
  await Promise.all([noop.ready(), noopIgnored.ready()]);

  async function saveAll(queue: Queue, n: number): Promise<void> {
    for (let i = 0; i < n; i += CHUNK) {
      const jobs = Array.from({ length: Math.min(CHUNK, n - i) }, () => queue.createJob({}));
      const errors = await queue.saveAll(jobs);
      if (errors.size) throw new Error(`bee-queue saveAll: ${[...errors.values()][0]?.message}`);
    }
  }

  async function e2eResults(n: number): Promise<number> {
    const base = (await noop.checkHealth()).succeeded;
    const start = performance.now();
    await saveAll(noop, n);
    let health: Queue.HealthCheckResult | null = null;
    await waitFor(
      async () => {
        health = await noop.checkHealth();
        if (health.failed > 0) throw new Error('a bee-queue job failed');
        return health.succeeded >= base + n;
      },
      o.timeoutMs,
      () => `${n} bee-queue jobs to succeed (${base} before; now ${JSON.stringify(health)})`,
      5,
    );
    return since(start);
  }

  return {
    name: 'bee-queue',
    label: 'bee-queue 2.0',
    dbs: [db],
    defaultConcurrency: [1, 16, 64, 256],
    rssWithChildren: false,

    async measureEnqueue(): Promise<EnqueueTimings> {
      await noop.createJob({}).save();
      let start = performance.now();
      for (let i = 0; i < o.enqueueOne; i++) await noop.createJob({}).save();
      const oneMs = since(start);
      start = performance.now();
      await saveAll(noop, o.enqueueBulk);
      return { oneMs, bulkMs: since(start) };
    },

    startWorker(concurrency) {
      const args = [benchScript('workers/bee-queue-worker.js'), o.redis, String(db), String(concurrency)];
      return spawnWorker(process.execPath, args, {});
    },

    async measureWithWorker(worker): Promise<WorkerTimings> {
      // Ready = it ran one job; then a burst to warm the JIT.
      await e2eResults(1);
      if (o.e2eWarmup > 0) await e2eResults(o.e2eWarmup);

      const { value: e2eResultsMs, cpu: e2eCpu } = await withCpu(worker, counter, () => e2eResults(o.tasks));

      const e2eIgnoredMs = await timeCountedRun(counter, o.tasks, o.timeoutMs, () => saveAll(noopIgnored, o.tasks));

      // Subscribed only now, so the throughput runs' events do not reach this producer.
      const waiting = new Queue('noop', { redis, isWorker: false, getEvents: true, storeJobs: false });
      try {
        await waiting.ready();
        return { e2eResultsMs, e2eCpu, e2eIgnoredMs, ...(await timeRoundTrips(o.latencyCalls, o.latencyWarmup, jobRoundTrip(waiting, o.timeoutMs))) };
      } finally {
        await waiting.close();
      }
    },

    async close() {
      counter.disconnect();
      await Promise.allSettled([noop.close(), noopIgnored.close()]);
    },
  };
}

/**
 * One job's round trip (save, then its success or failure) through the queue-level events of
 * `waiting`, which must be created with `getEvents: true`. A job's own `succeeded` event is not
 * used: it is lost when the event arrives before `save()` has resolved (seen at -c 16 and up).
 */
export function jobRoundTrip(waiting: Queue, timeoutMs: number): () => Promise<void> {
  const pending = new Map<string, (error?: Error) => void>();
  const early = new Map<string, Error | undefined>();
  const settle = (id: string, error?: Error) => {
    const finish = pending.get(id);
    if (finish) finish(error);
    else early.set(id, error);
  };
  waiting.on('job succeeded', (id) => settle(String(id)));
  waiting.on('job failed', (id, err) => settle(String(id), err));
  return async () => {
    const id = String((await waiting.createJob({}).save()).id);
    await new Promise<void>((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        pending.delete(id);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(() => finish(new Error(`bee-queue job ${id} did not finish within ${timeoutMs} ms`)), timeoutMs);
      if (early.has(id)) finish(early.get(id));
      else pending.set(id, finish);
    });
    early.delete(id);
  };
}
