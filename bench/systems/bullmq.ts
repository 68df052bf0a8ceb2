/**
 * BullMQ: worker = bench/workers/bullmq-worker.ts; producer = this process. Bulk = `addBulk` in
 * chunks of 1000. With results: jobs stay completed with their return value, and completion is the
 * completed-set count. Ignored: `removeOnComplete: true`, completion counted by the task's INCR.
 */
import { Queue, QueueEvents } from 'bullmq';
import { redisAddress } from '../lib/connection.js';
import { withCpu } from '../lib/cpu.js';
import { benchScript, spawnWorker } from '../lib/process.js';
import { systemDbs, type BenchOptions, type BenchSystem, type EnqueueTimings, type WorkerTimings } from '../lib/types.js';
import { redisClient, since, timeCountedRun, timeRoundTrips, waitFor, type RoundTrips } from '../lib/util.js';

const CHUNK = 1000;

export async function createBullmqSystem(o: BenchOptions): Promise<BenchSystem> {
  const [db = 0] = systemDbs('bullmq', o.dbBase);
  const connection = redisAddress(o.redis, db);
  const queue = new Queue('bench', { connection });
  const counter = redisClient(o.redis, db);

  async function addBulk(n: number, name: 'noop' | 'noop_ignored'): Promise<void> {
    const opts = name === 'noop_ignored' ? { removeOnComplete: true } : {};
    for (let i = 0; i < n; i += CHUNK) {
      const size = Math.min(CHUNK, n - i);
      await queue.addBulk(Array.from({ length: size }, () => ({ name, data: {}, opts })));
    }
  }

  async function e2eResults(n: number): Promise<number> {
    const base = await queue.getCompletedCount();
    const start = performance.now();
    await addBulk(n, 'noop');
    await waitFor(
      async () => {
        if ((await queue.getFailedCount()) > 0) throw new Error('a BullMQ job failed');
        return (await queue.getCompletedCount()) >= base + n;
      },
      o.timeoutMs,
      `${n} BullMQ jobs to complete`,
      5,
    );
    return since(start);
  }

  return {
    name: 'bullmq',
    label: 'BullMQ 6.7',
    dbs: [db],
    defaultConcurrency: [1, 16, 64, 256],
    rssWithChildren: false,

    async measureEnqueue(): Promise<EnqueueTimings> {
      await queue.waitUntilReady();
      await queue.add('noop', {});
      let start = performance.now();
      for (let i = 0; i < o.enqueueOne; i++) await queue.add('noop', {});
      const oneMs = since(start);
      start = performance.now();
      await addBulk(o.enqueueBulk, 'noop');
      return { oneMs, bulkMs: since(start) };
    },

    startWorker(concurrency) {
      const args = [benchScript('workers/bullmq-worker.js'), o.redis, String(db), String(concurrency)];
      return spawnWorker(process.execPath, args, {});
    },

    async measureWithWorker(worker): Promise<WorkerTimings> {
      // Ready = it ran one job; then a burst to warm the JIT.
      await e2eResults(1);
      if (o.e2eWarmup > 0) await e2eResults(o.e2eWarmup);

      const { value: e2eResultsMs, cpu: e2eCpu } = await withCpu(worker, counter, () => e2eResults(o.tasks));

      const e2eIgnoredMs = await timeCountedRun(counter, o.tasks, o.timeoutMs, () => addBulk(o.tasks, 'noop_ignored'));

      // Listening to the event stream only now, so the throughput runs' events do not reach this producer.
      const events = new QueueEvents('bench', { connection });
      try {
        await events.waitUntilReady();
        return { e2eResultsMs, e2eCpu, e2eIgnoredMs, ...(await latencies(events)) };
      } finally {
        await events.close();
      }
    },

    async close() {
      counter.disconnect();
      await queue.close();
    },
  };

  /** Add one job and wait for it to finish, `latencyCalls` times in a row. */
  function latencies(events: QueueEvents): Promise<RoundTrips> {
    return timeRoundTrips(o.latencyCalls, o.latencyWarmup, async () => (await queue.add('noop', {})).waitUntilFinished(events, o.timeoutMs));
  }
}
