/**
 * End-to-end worker behaviour (issue 2, section 5) on the in-memory, embedded SQLite and Redis brokers:
 * a producer app and a worker app, each with its own connections, as two processes would have.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import { currentTask } from '../../src/app/context.js';
import { RemoteTaskError } from '../../src/errors.js';
import { buildTaskMessage } from '../../src/protocol/message.js';
import type { Worker } from '../../src/worker/worker.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

interface Setup {
  broker: string;
  backend: string;
  brokerTransportOptions?: Record<string, unknown>;
}

const setups: [string, () => Setup][] = [
  ['memory', () => {
    const name = Math.random().toString(36).slice(2);
    return { broker: `memory://${name}`, backend: `memory://${name}` };
  }],
  ['sqlite', () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-worker-'));
    dirs.push(dir);
    return { broker: `sqlite:///${dir}/broker.db`, backend: `sqlite:///${dir}/results.db` };
  }],
  ['redis', () => {
    // One queue name per test (see queueFor) keeps parallel files apart on the shared DBs.
    const prefix = `worker-${Math.random().toString(36).slice(2, 10)}:`;
    return {
      broker: process.env.CELERIAC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
      backend: process.env.CELERIAC_TEST_REDIS_BACKEND_URL ?? 'redis://127.0.0.1:6379/1',
      brokerTransportOptions: { globalKeyprefix: prefix },
    };
  }],
];
const dirs: string[] = [];

function defineTasks(app: Celery, log: unknown[]) {
  let running = 0;
  let maxRunning = 0;
  const tasks = {
    add: app.task('tasks.add', (x: number, y: number) => x + y),
    mul: app.task('tasks.mul', (x: number, y: number) => x * y),
    fail: app.task('tasks.fail', (message: string) => {
      throw new TypeError(message);
    }),
    record: app.task('tasks.record', (value: string) => {
      log.push(value);
      return value;
    }),
    slow: app.task({ name: 'tasks.slow', trackStarted: true }, async (ms: number) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, ms));
      running--;
      return ms;
    }),
    ids: app.task('tasks.ids', () => {
      const t = currentTask();
      return { id: t?.id, parentId: t?.parentId, rootId: t?.rootId };
    }),
    spawnChild: app.task('tasks.spawnChild', async () => {
      const child = await app.sendTask('tasks.ids');
      return child.id;
    }),
    quiet: app.task({ name: 'tasks.quiet', ignoreResult: true }, () => 'ignored'),
  };
  return { tasks, maxRunning: () => maxRunning };
}

describe.each(setups)('worker on %s', (_name, makeSetup) => {
  let producer: Celery;
  let workerApp: Celery;
  let worker: Worker;
  let log: unknown[];
  let client: ReturnType<typeof defineTasks>;
  let server: ReturnType<typeof defineTasks>;

  beforeEach(async () => {
    const setup = makeSetup();
    log = [];
    producer = new Celery('producer', { ...setup, logLevel: 'silent' }, { env: {} });
    workerApp = new Celery('worker', { ...setup, logLevel: 'silent', resultExtended: true }, { env: {} });
    client = defineTasks(producer, []);
    server = defineTasks(workerApp, log);
    worker = workerApp.worker({ concurrency: 2, hostname: 'w1@test' });
    await worker.start();
  });

  afterEach(async () => {
    await worker.close();
    await producer.close();
    await workerApp.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('runs a task and returns its typed result', async () => {
    const result = await client.tasks.add.delay(2, 2);
    const value: number = await result.get({ timeout: 10_000 });
    expect(value).toBe(4);
    expect(await result.state).toBe('SUCCESS');
    expect(await result.successful()).toBe(true);
    expect(await result.dateDone).toBeInstanceOf(Date);
  });

  it('sends many calls at once with delayMany and returns their results in order', async () => {
    const results = await client.tasks.add.delayMany([[1, 1], [2, 2], [3, 3]], { priority: 3 });
    expect(await Promise.all(results.map((r) => r.get({ timeout: 10_000 })))).toEqual([2, 4, 6]);
    await expect(client.tasks.add.delayMany([[1, 1]], { taskId: 'shared' })).rejects.toThrow(/taskId/);
  });

  it('stores Celery result_extended fields', async () => {
    const result = await client.tasks.add.delay(1, 2);
    await result.get({ timeout: 10_000 });
    const meta = await result.meta();
    expect(meta).toMatchObject({ status: 'SUCCESS', result: 3, name: 'tasks.add', args: [1, 2], kwargs: {}, worker: 'w1@test', retries: 0, queue: 'celery', task_id: result.id });
  });

  it('binds keyword arguments by parameter name, as sent by Python clients', async () => {
    const result = await producer.sendTask<number>('tasks.add', [], { y: 5, x: 1 });
    expect(await result.get({ timeout: 10_000 })).toBe(6);
  });

  it('stores a failure with the error type, message and stack, and get() rejects with them', async () => {
    const result = await client.tasks.fail.delay('nope');
    const error = await result.get({ timeout: 10_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteTaskError);
    expect(error).toMatchObject({ excType: 'TypeError', excMessage: ['nope'], excModule: 'builtins', message: 'nope' });
    expect(await result.failed()).toBe(true);
    expect(await result.traceback).toMatch(/TypeError: nope/);
    const returned = await result.get({ timeout: 1000, propagate: false });
    expect(returned).toBeInstanceOf(RemoteTaskError);
  });

  it('runs a countdown task only when due, without holding it in worker memory', async () => {
    const sentAt = Date.now();
    const result = await client.tasks.record.applyAsync(['later'], undefined, { countdown: 1 });
    // With delayed delivery the worker does not even receive it early. Without (Redis, where a Python
    // worker must be able to take it too) it receives it and hands it back to the broker until due.
    const delayed = (await producer.connectBroker()).capabilities.delayedDelivery;
    await holdsFor(
      () => (!delayed || worker.stats.received === 0) && worker.stats.scheduled === 0 && !log.includes('later'),
      500,
      'message stays in the broker',
    );
    expect(await result.get({ timeout: 10_000 })).toBe('later');
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(950);
  });

  it('hands a message that arrives before its ETA back to the broker until it is due', async () => {
    // As a Python client publishes it: an eta header, but no delayed delivery in the broker.
    const id = `early-eta-${Math.random().toString(36).slice(2)}`; // results outlive a run on Redis
    const message = buildTaskMessage({ taskName: 'tasks.record', id, args: ['early'], kwargs: {}, eta: new Date(Date.now() + 1000) });
    const broker = await producer.connectBroker();
    await producer.ensureQueue('celery');
    await broker.publish(message, { exchange: '', routingKey: 'celery' });
    await waitFor(() => worker.stats.received === 1, 5000, 'worker received the early message');
    expect(worker.stats).toMatchObject({ scheduled: 0, active: 0, reserved: 0 });
    expect(log).not.toContain('early');
    expect(await producer.AsyncResult(id).get({ timeout: 10_000 })).toBe('early');
    expect(worker.stats.received).toBe(2);
  });

  it('marks an expired task REVOKED with reason "expired" and does not run it', async () => {
    const result = await client.tasks.record.applyAsync(['expired'], undefined, { expires: new Date(Date.now() - 1000) });
    const error = await result.get({ timeout: 10_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ excType: 'TaskRevokedError', excMessage: ['expired'] });
    expect(await result.state).toBe('REVOKED');
    expect(log).not.toContain('expired');
  });

  it('stores NotRegistered for an unknown task and keeps going', async () => {
    const unknown = await producer.sendTask('tasks.nope', [1]);
    const error = await unknown.get({ timeout: 10_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ excType: 'NotRegistered', excMessage: ['tasks.nope'] });
    expect(await (await client.tasks.add.delay(1, 1)).get({ timeout: 10_000 })).toBe(2);
  });

  it('rejects a malformed message without crashing and runs the next good task', async () => {
    const broker = await producer.connectBroker();
    await producer.ensureQueue('celery');
    await broker.publish(
      { body: Buffer.from('{not json'), contentType: 'application/json', contentEncoding: 'utf-8', headers: { task: 'tasks.add', id: 'bad-1' }, properties: {} },
      { exchange: '', routingKey: 'celery' },
    );
    await broker.publish(
      { body: Buffer.from('[1, 2]'), contentType: 'application/json', contentEncoding: 'utf-8', headers: {}, properties: {} },
      { exchange: '', routingKey: 'celery' },
    );
    await waitFor(() => worker.stats.rejected >= 2);
    expect(await (await client.tasks.add.delay(20, 22)).get({ timeout: 10_000 })).toBe(42);
  });

  it('calls link callbacks with the result and link_error errbacks with the task id', async () => {
    await client.tasks.add.applyAsync([3, 4], undefined, { link: client.tasks.record.s() });
    await waitFor(() => log.includes(7));
    const failed = await client.tasks.fail.applyAsync(['x'], undefined, { linkError: client.tasks.record.s() });
    await waitFor(() => log.includes(failed.id));
  });

  it('does not store results of ignoreResult tasks', async () => {
    const result = await client.tasks.quiet.delay();
    const after = await client.tasks.add.delay(0, 0);
    await after.get({ timeout: 10_000 });
    await waitFor(() => worker.stats.succeeded >= 2);
    expect(await result.state).toBe('PENDING');
  });

  it('stores STARTED for trackStarted tasks and never runs more than `concurrency` at once', async () => {
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => client.tasks.slow.delay(150)));
    await waitFor(async () => (await results[0]!.state) === 'STARTED' || (await results[0]!.state) === 'SUCCESS');
    await Promise.all(results.map((r) => r.get({ timeout: 10_000 })));
    expect(server.maxRunning()).toBeLessThanOrEqual(2);
    expect(server.maxRunning()).toBe(2);
  });

  it('sets parent_id and root_id on tasks sent from inside a task', async () => {
    const parent = await client.tasks.spawnChild.delay();
    const childId = (await parent.get({ timeout: 10_000 })) as string;
    const child = await producer.AsyncResult<{ id: string; parentId: string; rootId: string }>(childId).get({ timeout: 10_000 });
    expect(child).toEqual({ id: childId, parentId: parent.id, rootId: parent.id });
  });

  it('skips a revoked task', async () => {
    const result = await client.tasks.record.applyAsync(['revoked'], undefined, { countdown: 1 });
    await result.revoke();
    const error = await result.get({ timeout: 10_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ excType: 'TaskRevokedError', excMessage: ['revoked'] });
    expect(log).not.toContain('revoked');
  });

  it('honours a revocation made while no worker was running (durable, unlike Celery #4886)', async () => {
    await worker.close();
    const result = await client.tasks.record.delay('revoked-offline');
    await result.revoke();
    const later = workerApp.worker({ concurrency: 2 });
    await later.start();
    try {
      const error = await result.get({ timeout: 10_000 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ excType: 'TaskRevokedError', excMessage: ['revoked'] });
      expect(log).not.toContain('revoked-offline');
    } finally {
      await later.close();
    }
  });

  it('on warm shutdown returns reserved messages to the queue and finishes running ones', async () => {
    const running = await Promise.all([1, 2].map(() => client.tasks.slow.delay(300)));
    const waiting = await Promise.all([1, 2, 3].map((i) => client.tasks.record.delay(`after-${i}`)));
    await waitFor(() => worker.stats.active === 2);
    await worker.close();
    for (const r of running) expect(await r.state).toBe('SUCCESS');
    const broker = await producer.connectBroker();
    await waitFor(async () => (await broker.queueSize('celery')) + log.filter((l) => String(l).startsWith('after-')).length === 3);
    const second = workerApp.worker({ concurrency: 2 });
    await second.start();
    await Promise.all(waiting.map((r) => r.get({ timeout: 10_000 })));
    await second.close();
  });
});
