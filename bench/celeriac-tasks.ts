/**
 * celeriac's side of the benchmark: the app and its two tasks. The worker CLI loads this module
 * (`celeriac -A bench/celeriac-tasks.ts worker ...`) and the producer imports it to send.
 */
import { Celery } from 'celeriac';
import { Redis } from 'ioredis';

export const app = new Celery('bench', {
  broker: process.env.BENCH_BROKER_URL ?? 'redis://127.0.0.1:6379/10',
  resultBackend: process.env.BENCH_BACKEND_URL ?? 'redis://127.0.0.1:6379/11',
});

// Lazy, so the producer (which never runs tasks) does not open it.
const counter = new Redis(process.env.BENCH_COUNTER_URL ?? 'redis://127.0.0.1:6379/10', { lazyConnect: true });

export const noop = app.task('bench.noop', () => null);

/** Results ignored: completion is counted with one INCR per task (the same in every system). */
export const noopIgnored = app.task({ name: 'bench.noop_ignored', ignoreResult: true }, async () => {
  await counter.incr('bench:done');
  return null;
});
