/**
 * The execution pools with real worker threads and child processes: outcomes, errors, time limits
 * that really stop code, terminate, recycling and resizing.
 */
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { exceptionInfo } from '../../src/worker/exceptions.js';
import type { Outcome } from '../../src/worker/middleware.js';
import { InProcessPool } from '../../src/worker/pools/in-process.js';
import { RunnerPool } from '../../src/worker/pools/runner-pool.js';
import { spawnProcessRunner, spawnThreadRunner } from '../../src/worker/pools/runners.js';
import type { ExecutionPool, TaskJob } from '../../src/worker/pools/types.js';
import { waitFor, within } from '../helpers/wait.js';
import { app } from './fixtures/pool-app.js';

const APP_MODULE = fileURLToPath(new URL('./fixtures/pool-app.ts', import.meta.url));
const BROKEN_MODULE = fileURLToPath(new URL('./fixtures/broken-app.ts', import.meta.url));

/** A logger whose lines the tests can read. */
function capturingLogger() {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  return { log, lines };
}

let counter = 0;
function job(name: string, args: unknown[] = [], limits: { soft?: number; hard?: number } = {}): TaskJob {
  const id = `job-${++counter}`;
  return {
    id,
    name,
    args,
    kwargs: {},
    softTimeLimitMs: limits.soft ?? null,
    hardTimeLimitMs: limits.hard ?? null,
    context: {
      id, name, args, kwargs: {}, retries: 0, rootId: id, parentId: null, groupId: null, groupIndex: null, eta: null,
      expires: null, hostname: 'test@pools', replyTo: null, correlationId: id, origin: null, timeLimit: [null, null], headers: {},
      deliveryInfo: { exchange: '', routing_key: 'celery', priority: 0, redelivered: false },
    },
  };
}

const run = (pool: ExecutionPool, j: TaskJob, signal = new AbortController().signal) => within(pool.run(j, { signal }), 20_000, j.name);
const failure = (outcome: Outcome) => {
  expect(outcome.status).toBe('FAILURE');
  return exceptionInfo((outcome as { error: unknown }).error);
};

const pools: ExecutionPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.terminate()));
});

for (const kind of ['threads', 'processes'] as const) {
  const spawn = kind === 'threads' ? spawnThreadRunner : spawnProcessRunner;
  async function startPool(size: number, extra: Partial<ConstructorParameters<typeof RunnerPool>[0]> = {}) {
    const { log, lines } = capturingLogger();
    const pool = new RunnerPool({ kind, size, appModule: APP_MODULE, conf: {}, spawn, log, ...extra });
    pools.push(pool);
    await within(pool.start(), 30_000, `${kind} pool start`);
    return { pool, lines };
  }
  const where = async (pool: ExecutionPool) => {
    const outcome = await run(pool, job('pool.whereAmI'));
    const value = (outcome as { value: { pid: number; threadId: number } }).value;
    return kind === 'threads' ? value.threadId : value.pid;
  };

  describe(`${kind} pool`, () => {
    it('runs tasks away from the main thread and returns their values', async () => {
      const { pool } = await startPool(2);
      expect(await run(pool, job('pool.add', [2, 3]))).toMatchObject({ status: 'SUCCESS', value: 5 });
      const id = await where(pool);
      expect(id).not.toBe(kind === 'threads' ? 0 : process.pid);
      expect(pool.workerIds).toContain(id);
    });

    it("carries a task's error type and message back", async () => {
      const { pool } = await startPool(1);
      expect(failure(await run(pool, job('pool.fail', ['flour'])))).toEqual({ exc_type: 'InventoryError', exc_message: ['out of flour'], exc_module: null });
      expect(failure(await run(pool, job('pool.unknown')))).toMatchObject({ exc_type: 'NotRegistered', exc_module: 'celery.exceptions' });
      expect(failure(await run(pool, job('pool.unclonable')))).toMatchObject({ exc_type: 'TypeError' });
      expect(await run(pool, job('pool.add', [1, 1]))).toMatchObject({ value: 2 });
    });

    it('stops a CPU-bound task at its hard time limit, replaces the worker, and keeps the event loop free meanwhile', async () => {
      const { pool, lines } = await startPool(1);
      const before = await where(pool);
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 20);
      const outcome = await run(pool, job('pool.spin', [], { hard: 600 }));
      clearInterval(ticker);
      expect(failure(outcome)).toEqual({ exc_type: 'TimeLimitExceeded', exc_message: [0.6], exc_module: 'billiard.exceptions' });
      expect(ticks).toBeGreaterThanOrEqual(10); // the parent kept running while the task spun
      expect(lines.some((l) => l.includes('Hard time limit (0.6s) exceeded'))).toBe(true);
      expect(await run(pool, job('pool.add', [20, 22]))).toMatchObject({ value: 42 });
      expect(await where(pool)).not.toBe(before);
    });

    it('aborts the task signal with SoftTimeLimitExceeded at the soft limit, so it can clean up', async () => {
      const { pool } = await startPool(1);
      expect(await run(pool, job('pool.waitForAbort', [], { soft: 200, hard: 10_000 }))).toMatchObject({
        status: 'SUCCESS',
        value: 'cleaned up after SoftTimeLimitExceeded',
      });
    });

    it('kills a running task on terminate (revoke) with the requested signal', async () => {
      const { pool } = await startPool(1);
      const controller = new AbortController();
      const running = run(pool, job('pool.spin'), controller.signal);
      setTimeout(() => controller.abort({ signal: 'SIGKILL' }), 100);
      expect(failure(await running)).toMatchObject({ exc_type: 'Terminated', exc_message: ['SIGKILL'] });
      expect(await run(pool, job('pool.add', [1, 2]))).toMatchObject({ value: 3 });
    });

    it('recycles a worker after maxTasksPerChild tasks, and says so in the log', async () => {
      const { pool, lines } = await startPool(1, { maxTasksPerChild: 2 });
      const first = await where(pool);
      expect(await where(pool)).toBe(first);
      const third = await where(pool);
      expect(third).not.toBe(first);
      expect(lines.some((l) => l.includes('max tasks per child (2) reached'))).toBe(true);
    });

    it('recycles a worker that went over maxMemoryPerChild, after that task', async () => {
      const { pool, lines } = await startPool(1, { maxMemoryPerChild: 64 * 1024 });
      const first = await where(pool);
      expect(await run(pool, job('pool.hog', [96]))).toMatchObject({ status: 'SUCCESS', value: 96 });
      expect(await where(pool)).not.toBe(first);
      expect(lines.some((l) => l.includes('over max memory per child'))).toBe(true);
    });

    it('grows and shrinks at runtime', async () => {
      const { pool } = await startPool(1);
      await pool.resize(3);
      expect(pool.workerIds).toHaveLength(3);
      const outcomes = await Promise.all([1, 2, 3].map((n) => run(pool, job('pool.add', [n, n]))));
      expect(outcomes.map((o) => (o as { value: number }).value)).toEqual([2, 4, 6]);
      await pool.resize(1);
      await waitFor(() => pool.workerIds.length === 1, 10_000, 'pool shrunk to 1');
      expect(await run(pool, job('pool.add', [5, 5]))).toMatchObject({ value: 10 });
    });

    it('fails to start with the loading error when the app module is broken', async () => {
      const { log } = capturingLogger();
      const pool = new RunnerPool({ kind, size: 1, appModule: BROKEN_MODULE, conf: {}, spawn, log });
      pools.push(pool);
      await expect(within(pool.start(), 30_000, 'broken start')).rejects.toThrow(/pool worker could not start: .*broken on purpose/);
    });
  });
}

describe('async (in-process) pool', () => {
  it('runs the task in this process', async () => {
    const pool = new InProcessPool(app, capturingLogger().log, 4);
    const outcome = await run(pool, job('pool.whereAmI'));
    expect((outcome as { value: { pid: number } }).value.pid).toBe(process.pid);
  });

  it('fails the task at the hard limit and warns that its code cannot be stopped', async () => {
    const { log, lines } = capturingLogger();
    const pool = new InProcessPool(app, log, 1);
    const outcome = await run(pool, job('pool.waitForAbort', [], { hard: 100 }));
    expect(failure(outcome)).toMatchObject({ exc_type: 'TimeLimitExceeded', exc_message: [0.1] });
    expect(lines.some((l) => l.includes('cannot stop its code'))).toBe(true);
  });

  it('aborts the task signal at the soft limit and on terminate', async () => {
    const pool = new InProcessPool(app, capturingLogger().log, 1);
    expect(await run(pool, job('pool.waitForAbort', [], { soft: 50 }))).toMatchObject({ value: 'cleaned up after SoftTimeLimitExceeded' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('revoked')), 50);
    expect(await run(pool, job('pool.waitForAbort'), controller.signal)).toMatchObject({ value: 'cleaned up after Error' });
  });

  it('hands a task with time limits a signal that is already aborted when its run was (as one without)', async () => {
    const pool = new InProcessPool(app, capturingLogger().log, 1);
    const aborted = AbortSignal.abort(new Error('revoked'));
    expect(await run(pool, job('pool.signalAtStart'), aborted)).toMatchObject({ value: { aborted: true } });
    expect(await run(pool, job('pool.signalAtStart', [], { soft: 5000, hard: 10_000 }), aborted)).toMatchObject({ value: { aborted: true } });
  });
});
