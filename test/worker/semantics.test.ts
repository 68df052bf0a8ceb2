/**
 * Worker semantics (issue 5) on the in-memory, embedded SQLite and Redis brokers: retries, autoretry with backoff,
 * reject, ignore, progress states, time limits, rate limits without held slots, runtime resize.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import { currentTask } from '../../src/app/context.js';
import { Ignore, Reject, retry } from '../../src/app/task-control.js';
import type { Worker } from '../../src/worker/worker.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

const REDIS = process.env.CELERIAC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const REDIS_BACKEND = process.env.CELERIAC_TEST_REDIS_BACKEND_URL ?? 'redis://127.0.0.1:6379/1';
const uid = () => Math.random().toString(36).slice(2, 10);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const setups: [string, () => { broker: string; backend: string; brokerTransportOptions?: Record<string, unknown> }][] = [
  ['memory', () => ({ broker: `memory://${uid()}`, backend: `memory://${uid()}` })],
  ['sqlite (embedded)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-semantics-'));
    dirs.push(dir);
    return { broker: `sqlite:///${dir}/broker.db`, backend: `sqlite:///${dir}/results.db`, brokerTransportOptions: { pollingInterval: 0.02 } };
  }],
  ['redis', () => ({ broker: REDIS, backend: REDIS_BACKEND, brokerTransportOptions: { globalKeyprefix: `semantics-${uid()}:` } })],
];

class FlakyError extends Error {
  override name = 'FlakyError';
}

function defineTasks(app: Celery, seen: Map<string, number[]>) {
  const note = (key: string) => {
    const list = seen.get(key) ?? [];
    list.push(Date.now());
    seen.set(key, list);
    return list.length;
  };
  return {
    retryTwice: app.task('sem.retryTwice', (key: string) => {
      const attempt = note(key);
      if (attempt < 3) throw retry({ countdown: 0.05, exc: new FlakyError(`attempt ${attempt}`) });
      return { attempt, retries: currentTask()!.retries };
    }),
    alwaysRetry: app.task({ name: 'sem.alwaysRetry', maxRetries: 2 }, (key: string) => {
      note(key);
      throw retry({ countdown: 0.02, exc: new FlakyError('still broken') });
    }),
    noExc: app.task({ name: 'sem.noExc', maxRetries: 0 }, () => {
      throw retry({ countdown: 0.01 });
    }),
    auto: app.task({ name: 'sem.auto', autoretryFor: [FlakyError], retryBackoff: true, retryJitter: false, retryBackoffMax: 1 }, (key: string) => {
      const attempt = note(key);
      if (attempt <= 2) throw new FlakyError(`attempt ${attempt}`);
      return attempt;
    }),
    notAuto: app.task({ name: 'sem.notAuto', autoretryFor: [FlakyError] }, () => {
      throw new TypeError('not retried');
    }),
    reject: app.task({ name: 'sem.reject', acksLate: true }, (key: string) => {
      if (note(key) === 1) throw new Reject('try elsewhere', true);
      return 'second delivery';
    }),
    ignore: app.task('sem.ignore', () => {
      throw new Ignore();
    }),
    progress: app.task('sem.progress', async (key: string) => {
      await currentTask()!.updateState('PROGRESS', { done: 1, total: 2 });
      await waitFor(() => (seen.get(key)?.length ?? 0) > 0, 10_000, 'the test read the progress');
      return 'done';
    }),
    slowAsync: app.task({ name: 'sem.slowAsync', timeLimit: 0.2 }, async () => {
      await new Promise((resolve) => currentTask()!.signal.addEventListener('abort', resolve, { once: true }));
      return 'aborted';
    }),
    soft: app.task({ name: 'sem.soft', softTimeLimit: 0.1 }, async () => {
      const signal = currentTask()!.signal;
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return (signal.reason as Error).name;
    }),
    limited: app.task({ name: 'sem.limited', rateLimit: '20/s' }, (key: string) => note(key)),
    quick: app.task('sem.quick', () => 'quick'),
  };
}

describe.each(setups)('worker semantics on %s', (_name, makeSetup) => {
  let producer: Celery;
  let workerApp: Celery;
  let worker: Worker;
  let client: ReturnType<typeof defineTasks>;
  let seen: Map<string, number[]>;

  beforeEach(async () => {
    const setup = makeSetup();
    seen = new Map();
    producer = new Celery('producer', { ...setup, logLevel: 'silent' }, { env: {} });
    workerApp = new Celery('worker', { ...setup, logLevel: 'silent' }, { env: {} });
    client = defineTasks(producer, new Map());
    defineTasks(workerApp, seen);
    worker = workerApp.worker({ concurrency: 2, hostname: 'sem@test' });
    await worker.start();
  });

  afterEach(async () => {
    await worker.close();
    await producer.close();
    await workerApp.close();
  });

  it('has every result stored once a warm shutdown ends, though a task does not wait for its own write', async () => {
    const echo = producer.task('sem.echo', (n: number) => n);
    workerApp.task('sem.echo', (n: number) => n);
    const sent = await echo.delayMany(Array.from({ length: 300 }, (_, i) => [i] as [number]));
    await waitFor(() => worker.stats.succeeded >= 300, 10_000, 'every task to run');
    await worker.close();
    const backend = (await producer.connectBackend())!;
    const metas = await Promise.all(sent.map((r) => backend.getTaskMeta(r.id)));
    expect(metas.map((m) => m.status)).toEqual(sent.map(() => 'SUCCESS'));
    expect(metas.map((m) => m.result)).toEqual(sent.map((_, i) => i));
  });

  it('retries with the same id, counting retries up, storing RETRY with the error meanwhile', async () => {
    const key = uid();
    const result = await client.retryTwice.delay(key);
    await waitFor(async () => (await result.state) === 'RETRY' || (await result.state) === 'SUCCESS', 10_000, 'RETRY stored');
    expect(await result.get({ timeout: 10_000 })).toEqual({ attempt: 3, retries: 2 });
    const times = seen.get(key)!;
    expect(times).toHaveLength(3);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(40); // countdown 0.05 s
  });

  it('fails with the original error once maxRetries is exhausted', async () => {
    const key = uid();
    const result = await client.alwaysRetry.delay(key);
    const error = await result.get({ timeout: 10_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ excType: 'FlakyError', excMessage: ['still broken'] });
    expect(seen.get(key)).toHaveLength(3); // the first run and maxRetries = 2 retries
  });

  it('fails with MaxRetriesExceededError when there is no error to raise', async () => {
    const error = await (await client.noExc.delay()).get({ timeout: 10_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ excType: 'MaxRetriesExceededError', excModule: 'celery.exceptions' });
  });

  it('retries autoretryFor errors with exponential backoff, and fails other errors at once', async () => {
    const key = uid();
    expect(await (await client.auto.delay(key)).get({ timeout: 15_000 })).toBe(3);
    const [t0, t1, t2] = seen.get(key)!;
    expect(t1! - t0!).toBeGreaterThanOrEqual(900); // 1 s × 2^0
    expect(t2! - t1!).toBeGreaterThanOrEqual(900); // min(1, 1 s × 2^1): retryBackoffMax caps it
    const error = await (await client.notAuto.delay()).get({ timeout: 10_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ excType: 'TypeError', excMessage: ['not retried'] });
  });

  it('requeues a rejected message when the task asks, and stores nothing for an ignored task', async () => {
    const key = uid();
    expect(await (await client.reject.delay(key)).get({ timeout: 10_000 })).toBe('second delivery');
    expect(seen.get(key)).toHaveLength(2);
    const ignored = await client.ignore.delay();
    await waitFor(() => worker.stats.active === 0 && worker.stats.failed === 0, 5000, 'the ignored task ran');
    await client.quick.delay().then((r) => r.get({ timeout: 10_000 }));
    expect(await ignored.state).toBe('PENDING');
  });

  it('stores a custom state with progress meta that AsyncResult reads', async () => {
    const key = uid();
    const result = await client.progress.delay(key);
    await waitFor(async () => (await result.state) === 'PROGRESS', 10_000, 'PROGRESS stored');
    expect(await result.info).toEqual({ done: 1, total: 2 });
    seen.set(key, [Date.now()]);
    expect(await result.get({ timeout: 10_000 })).toBe('done');
  });

  it('fails a task at its hard time limit in the async pool, aborting its signal, and goes on', async () => {
    const error = await (await client.slowAsync.delay()).get({ timeout: 10_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ excType: 'TimeLimitExceeded', excMessage: [0.2], excModule: 'billiard.exceptions' });
    expect(await (await client.quick.delay()).get({ timeout: 10_000 })).toBe('quick');
  });

  it('aborts the signal with SoftTimeLimitExceeded at the soft limit', async () => {
    expect(await (await client.soft.delay()).get({ timeout: 10_000 })).toBe('SoftTimeLimitExceeded');
  });

  it('honours a per-call time limit sent in the timelimit header', async () => {
    const result = await client.soft.applyAsync([], undefined, { softTimeLimit: 0.05, timeLimit: 0.03 });
    const error = await result.get({ timeout: 10_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ excType: 'TimeLimitExceeded', excMessage: [0.03] });
  });

  it('spaces rate-limited tasks without holding slots, and changes the rate at runtime', async () => {
    const key = uid();
    const limited = await Promise.all(Array.from({ length: 6 }, () => client.limited.delay(key)));
    // Other tasks are not held up behind the limited ones.
    expect(await (await client.quick.delay()).get({ timeout: 2_000 })).toBe('quick');
    await Promise.all(limited.map((r) => r.get({ timeout: 10_000 })));
    const times = seen.get(key)!;
    expect(times[5]! - times[0]!).toBeGreaterThanOrEqual(5 * 50 - 15); // 20/s: 50 ms apart
    worker.setRateLimit('sem.limited', '2/s');
    const slower = await Promise.all(Array.from({ length: 2 }, () => client.limited.delay(key)));
    await Promise.all(slower.map((r) => r.get({ timeout: 10_000 })));
    const after = seen.get(key)!;
    expect(after[7]! - after[6]!).toBeGreaterThanOrEqual(450);
  });

  it('without prefetch, takes a message only when a slot is free', async () => {
    await worker.close();
    const broker = await producer.connectBroker();
    const lean = new Celery('lean', { ...workerApp.conf, workerDisablePrefetch: true, logLevel: 'silent' }, { env: {} });
    defineTasks(lean, seen);
    const leanWorker = lean.worker({ concurrency: 1, hostname: 'lean@test' });
    await leanWorker.start();
    try {
      const key = uid();
      const slow = await client.progress.delay(key); // runs until the test marks `key`
      await waitFor(async () => (await slow.state) === 'PROGRESS', 10_000, 'the slow task running');
      const waiting = await Promise.all([1, 2, 3].map(() => client.quick.delay()));
      await holdsFor(async () => (await broker.queueSize('celery')) === 3, 300, 'nothing taken while the only slot is busy');
      seen.set(key, [Date.now()]);
      for (const r of waiting) expect(await r.get({ timeout: 10_000 })).toBe('quick');
    } finally {
      await leanWorker.close();
      await lean.close();
    }
  });

  it('grows and shrinks its concurrency at runtime', async () => {
    await worker.resize(4);
    expect(worker.concurrency).toBe(4);
    await worker.resize(1);
    expect(await (await client.quick.delay()).get({ timeout: 10_000 })).toBe('quick');
  });
});
