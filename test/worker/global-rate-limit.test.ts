/**
 * A cluster-wide rate limit (`globalRateLimit`), kept in Redis: two workers together stay under it,
 * where a per-worker limit would let each of them run at the full rate.
 */
import { afterEach, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import type { Worker } from '../../src/worker/worker.js';

const REDIS = process.env.CELERIAC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const BACKEND = process.env.CELERIAC_TEST_REDIS_BACKEND_URL ?? 'redis://127.0.0.1:6379/1';
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

it('two workers share one cluster-wide limit of 10/s', async () => {
  const suffix = Math.random().toString(36).slice(2, 10);
  const options = { broker: REDIS, backend: BACKEND, brokerTransportOptions: { globalKeyprefix: `global-rate-${suffix}:` }, logLevel: 'silent' as const };
  const starts: { worker: string; at: number }[] = [];
  const define = (app: Celery, name: string) =>
    app.task({ name: `limited.${suffix}`, globalRateLimit: '10/s' }, () => {
      starts.push({ worker: name, at: Date.now() });
      return name;
    });
  const producer = new Celery('producer', options, { env: {} });
  open.push(producer);
  const task = define(producer, 'producer');
  const workers: Worker[] = [];
  for (const name of ['w1', 'w2']) {
    const app = new Celery(name, options, { env: {} });
    define(app, name);
    // One message at a time each, so neither worker can take the whole batch.
    const worker = app.worker({ concurrency: 1, prefetchMultiplier: 1, hostname: `${name}@test` });
    await worker.start();
    open.push(app, worker);
    workers.push(worker);
  }
  const results = await Promise.all(Array.from({ length: 8 }, () => task.delay()));
  const ranOn = await Promise.all(results.map((r) => r.get({ timeout: 15_000 })));
  expect(new Set(ranOn).size).toBe(2); // both workers took part
  const times = starts.map((s) => s.at).sort((a, b) => a - b);
  // 8 slots at 10/s across the cluster: the first at once, then 7 × 100 ms.
  expect(times[7]! - times[0]!).toBeGreaterThanOrEqual(7 * 100 - 30);
  for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(60);
});
