/**
 * Python's `celery` command line on a Redis that celeriac also uses (broker DB 6, results DB 7):
 * `purge` and `inspect` must work on queues, bindings and messages celeriac created, and a Python
 * worker must consume a queue celeriac declared and filled first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Celery } from '../../src/app/celery.js';
import type { Worker } from '../../src/worker/worker.js';
import {
  interopTitle,
  pythonCeleryStatus,
  requirePythonCelery,
  runCeleryCli,
  startPythonWorker,
  uniqueName,
  type PythonWorker,
} from '../helpers/python.js';
import { celeriacApp, defineCeleriacTasks, flushDbs, pythonEnv, redisClient, startCeleriacWorker, teardownInterop } from './support.js';

const status = pythonCeleryStatus();
const DBS = { broker: 6, backend: 7 };
const TS_QUEUE = uniqueName('interop-ts');
const PY_QUEUE = uniqueName('interop-py');
const env = pythonEnv(DBS, PY_QUEUE);

async function listLength(key: string): Promise<number> {
  const redis = redisClient(DBS.broker);
  try {
    await redis.connect();
    return await redis.llen(key);
  } finally {
    redis.disconnect();
  }
}

describe.skipIf(status.skip)(interopTitle("celery CLI on celeriac's queues", status), () => {
  let app: Celery | undefined;
  let worker: Worker | undefined;
  let pyWorker: PythonWorker | undefined;
  let early: Promise<number> | undefined;

  beforeAll(async () => {
    requirePythonCelery(status);
    await flushDbs(DBS);
    app = celeriacApp('interop-celery-cli', DBS);
    defineCeleriacTasks(app);
    worker = await startCeleriacWorker(app, [TS_QUEUE]);
    // celeriac declares the Python worker's queue and puts a task in it before that worker exists.
    const sent = await app.sendTask<number>('tasks.mul', [6, 7], {}, { queue: PY_QUEUE });
    early = sent.get({ timeout: 30_000 });
    early.catch(() => undefined);
    pyWorker = await startPythonWorker({ ...env, queue: PY_QUEUE });
  }, 60_000);

  afterAll(() => teardownInterop(DBS, status, { pyWorker, worker, apps: [app] }), 60_000);

  it('a Python worker consumes a queue celeriac declared and filled first', async () => {
    await expect(early).resolves.toBe(42);
  }, 30_000);

  it('`celery purge -f -Q` empties a queue celeriac created and filled', async () => {
    const queue = uniqueName('interop-purge');
    for (let i = 0; i < 3; i++) await app!.sendTask('tasks.add', [i, i], {}, { queue });
    await app!.sendTask('tasks.add', [9, 9], {}, { queue, priority: 9 });
    expect(await listLength(queue)).toBe(3);
    expect(await listLength(`${queue}\x06\x169`)).toBe(1);
    const res = await runCeleryCli(['purge', '-f', '-Q', queue], env);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/Purged 4 messages? from 1 known task queue/);
    expect(await listLength(queue)).toBe(0);
    expect(await listLength(`${queue}\x06\x169`)).toBe(0);
    const broker = await app!.connectBroker();
    expect(await broker.queueSize(queue)).toBe(0);
  }, 30_000);

  it('`celery inspect ping` reaches the Python worker next to a celeriac worker', async () => {
    const res = await runCeleryCli(['inspect', 'ping', '-d', pyWorker!.nodename, '-t', '5'], env);
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(res.stdout).toContain(`${pyWorker!.nodename}: OK`);
    expect(res.stdout).toContain('pong');
  }, 30_000);

  it('`celery inspect ping` broadcast and `inspect active_queues` still answer', async () => {
    const ping = await runCeleryCli(['inspect', 'ping', '-t', '2'], env);
    expect(ping.code, `${ping.stdout}\n${ping.stderr}`).toBe(0);
    expect(ping.stdout).toContain(`${pyWorker!.nodename}: OK`);
    const queues = await runCeleryCli(['inspect', 'active_queues', '-d', pyWorker!.nodename, '-t', '5', '-j'], env);
    expect(queues.code, `${queues.stdout}\n${queues.stderr}`).toBe(0);
    const replies = JSON.parse(queues.stdout) as Record<string, { name: string }[]>;
    expect(replies[pyWorker!.nodename]?.map((q) => q.name)).toEqual([PY_QUEUE]);
  }, 30_000);
});
