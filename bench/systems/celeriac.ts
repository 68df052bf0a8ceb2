/**
 * celeriac: worker = the `celeriac worker` CLI on bench/celeriac-tasks.ts (compiled, as every bench worker); producer = this process,
 * through the public API. Bulk = `Task.delayMany` in chunks of 1000 (as BullMQ's `addBulk` and
 * bee-queue's `saveAll` are sent).
 */
import type { Redis } from 'ioredis';
import { withCpu } from '../lib/cpu.js';
import { benchScript, spawnWorker } from '../lib/process.js';
import { systemDbs, type BenchOptions, type BenchSystem, type EnqueueTimings, type WorkerTimings } from '../lib/types.js';
import { redisClient, redisUrl, since, timeCountedRun, timeRoundTrips, waitForCeleryResults } from '../lib/util.js';

const CHUNK = 1000;

export async function createCeleriacSystem(o: BenchOptions): Promise<BenchSystem> {
  const [brokerDb = 0, backendDb = 0] = systemDbs('celeriac', o.dbBase);
  const env = {
    BENCH_BROKER_URL: redisUrl(o.redis, brokerDb),
    BENCH_BACKEND_URL: redisUrl(o.redis, backendDb),
    BENCH_COUNTER_URL: redisUrl(o.redis, brokerDb),
  };
  Object.assign(process.env, env);
  const { app, noop, noopIgnored } = await import('../celeriac-tasks.js');
  app.configure({ broker: env.BENCH_BROKER_URL, resultBackend: env.BENCH_BACKEND_URL, logLevel: 'warning' });
  const backend: Redis = redisClient(o.redis, backendDb);
  const counter: Redis = redisClient(o.redis, brokerDb);

  /** Send `n` calls of a no-argument task with the bulk API, 1000 per call. */
  async function sendBulk(task: typeof noop | typeof noopIgnored, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i += CHUNK) {
      const sent = await task.delayMany(Array.from({ length: Math.min(CHUNK, n - i) }, () => [] as []));
      for (const r of sent) ids.push(r.id);
    }
    return ids;
  }

  async function e2eResults(n: number): Promise<number> {
    const start = performance.now();
    await waitForCeleryResults(backend, await sendBulk(noop, n), o.timeoutMs);
    return since(start);
  }

  return {
    name: 'celeriac',
    label: 'celeriac',
    dbs: [brokerDb, backendDb],
    defaultConcurrency: [1, 16, 64, 256],
    rssWithChildren: false,

    async measureEnqueue(): Promise<EnqueueTimings> {
      await noop.delay(); // connect outside the timed region
      let start = performance.now();
      for (let i = 0; i < o.enqueueOne; i++) await noop.delay();
      const oneMs = since(start);
      start = performance.now();
      await sendBulk(noop, o.enqueueBulk);
      return { oneMs, bulkMs: since(start) };
    },

    startWorker(concurrency) {
      const args = ['bin/celeriac.js', '-A', benchScript('celeriac-tasks.js'), 'worker'];
      args.push('-b', env.BENCH_BROKER_URL, '--result-backend', env.BENCH_BACKEND_URL, '-c', String(concurrency), '-l', 'warning');
      return spawnWorker(process.execPath, args, env);
    },

    async measureWithWorker(worker): Promise<WorkerTimings> {
      // Ready = it answered a round trip; then a burst to warm the JIT.
      await (await noop.delay()).get({ timeout: o.timeoutMs });
      if (o.e2eWarmup > 0) await e2eResults(o.e2eWarmup);

      const { value: e2eResultsMs, cpu: e2eCpu } = await withCpu(worker, counter, () => e2eResults(o.tasks));

      const e2eIgnoredMs = await timeCountedRun(counter, o.tasks, o.timeoutMs, () => sendBulk(noopIgnored, o.tasks));
      const roundTrips = await timeRoundTrips(o.latencyCalls, o.latencyWarmup, async () => (await noop.delay()).get({ timeout: o.timeoutMs }));
      return { e2eResultsMs, e2eCpu, e2eIgnoredMs, ...roundTrips };
    },

    async close() {
      backend.disconnect();
      counter.disconnect();
      await app.close();
    },
  };
}
