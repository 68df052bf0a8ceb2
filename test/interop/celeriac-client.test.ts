/**
 * celeriac clients calling a Python Celery worker on a shared Redis (broker DB 4, results DB 5),
 * `link` callbacks sent from celeriac across both workers, and results written by one side and read
 * by the other through the result backends directly.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Celery } from '../../src/app/celery.js';
import { Signature } from '../../src/canvas/signature.js';
import { RemoteTaskError } from '../../src/errors.js';
import type { Worker } from '../../src/worker/worker.js';
import {
  interopTitle,
  pythonCeleryStatus,
  requirePythonCelery,
  runPythonClient,
  startPythonWorker,
  uniqueName,
  type PyOutcome,
  type PythonWorker,
} from '../helpers/python.js';
import { celeriacApp, defineCeleriacTasks, flushDbs, pythonEnv, startCeleriacWorker, teardownInterop } from './support.js';

const status = pythonCeleryStatus();
const DBS = { broker: 4, backend: 5 };
const TS_QUEUE = uniqueName('interop-ts');
const PY_QUEUE = uniqueName('interop-py');
const env = pythonEnv(DBS, PY_QUEUE);

/** Declarations of the Python worker's tasks (test/interop/python/tasks.py); their bodies never run here. */
function declarePythonTasks(app: Celery) {
  const remote = (): never => {
    throw new Error('runs on the Python worker');
  };
  return {
    mul: app.task({ name: 'tasks.mul', queue: PY_QUEUE }, (_x: number, _y: number): number => remote()),
    pyFail: app.task({ name: 'tasks.py_fail', queue: PY_QUEUE }, (): never => remote()),
    echo: app.task({ name: 'tasks.echo', queue: PY_QUEUE }, (..._args: unknown[]): { args: unknown[]; kwargs: Record<string, unknown> } => remote()),
    pyStamp: app.task({ name: 'tasks.py_stamp', queue: PY_QUEUE }, (): number => remote()),
  };
}

async function rejection(promise: Promise<unknown>): Promise<RemoteTaskError> {
  const err = await promise.then(
    (value) => new Error(`expected a rejection, got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  if (!(err instanceof RemoteTaskError)) throw err;
  return err;
}

describe.skipIf(status.skip)(interopTitle('celeriac client → Python worker', status), () => {
  let client: Celery | undefined;
  let serverApp: Celery | undefined;
  let worker: Worker | undefined;
  let pyWorker: PythonWorker | undefined;
  let py: ReturnType<typeof declarePythonTasks>;

  beforeAll(async () => {
    requirePythonCelery(status);
    await flushDbs(DBS);
    client = celeriacApp('interop-celeriac-client', DBS);
    py = declarePythonTasks(client);
    serverApp = celeriacApp('interop-celeriac-worker', DBS);
    defineCeleriacTasks(serverApp);
    worker = await startCeleriacWorker(serverApp, [TS_QUEUE]);
    pyWorker = await startPythonWorker({ ...env, queue: PY_QUEUE });
  }, 60_000);

  afterAll(() => teardownInterop(DBS, status, { pyWorker, worker, apps: [serverApp, client] }), 60_000);

  it('delay(3, 4) of tasks.mul runs in Python and get() returns 12', async () => {
    const result = await py.mul.delay(3, 4);
    await expect(result.get({ timeout: 15_000 })).resolves.toBe(12);
    expect(await result.state).toBe('SUCCESS');
    const byName = await client!.sendTask<number>('tasks.mul', [6, 7], {}, { queue: PY_QUEUE });
    await expect(byName.get({ timeout: 15_000 })).resolves.toBe(42);
  }, 30_000);

  it('keyword arguments and JSON values survive the round trip', async () => {
    await expect((await py.mul.applyAsync([], { x: 5, y: 6 })).get({ timeout: 15_000 })).resolves.toBe(30);
    const args = [1, 'two', { three: [3, 3.5] }, null, true, 'héllo ✓ 🥕'];
    const result = await client!.sendTask('tasks.echo', args, { k: 'v', n: -1 }, { queue: PY_QUEUE });
    await expect(result.get({ timeout: 15_000 })).resolves.toEqual({ args, kwargs: { k: 'v', n: -1 } });
  }, 30_000);

  it('a Python failure rejects get() with RemoteTaskError carrying excType and excMessage', async () => {
    const result = await py.pyFail.delay();
    const err = await rejection(result.get({ timeout: 15_000 }));
    expect(err).toMatchObject({ excType: 'ValueError', excMessage: ['python says no'], excModule: 'builtins', taskId: result.id });
    expect(err.message).toBe('python says no');
    expect(err.traceback).toContain('ValueError: python says no');
    expect(await result.state).toBe('FAILURE');
  }, 30_000);

  it('countdown from celeriac is honoured by the Python worker', async () => {
    const sentAt = Date.now() / 1000;
    const result = await py.pyStamp.applyAsync([], undefined, { countdown: 1.5 });
    const ranAt = await result.get({ timeout: 15_000 });
    expect(ranAt).toBeGreaterThanOrEqual(sentAt + 1.5 - 0.01);
    expect(ranAt).toBeLessThan(sentAt + 10);
  }, 30_000);

  it('an expired message is revoked by the Python worker (TaskRevokedError)', async () => {
    const result = await py.mul.applyAsync([1, 1], undefined, { expires: new Date(Date.now() - 10_000) });
    const err = await rejection(result.get({ timeout: 15_000 }));
    expect(err.excType).toBe('TaskRevokedError');
    expect(await result.state).toBe('REVOKED');
  }, 30_000);

  it('link: a Python task calls back a celeriac task', async () => {
    const callbackId = randomUUID();
    const link = new Signature('tasks.add', [1], {}, { queue: TS_QUEUE, task_id: callbackId });
    const result = await py.mul.applyAsync([3, 4], undefined, { link });
    await expect(result.get({ timeout: 15_000 })).resolves.toBe(12);
    await expect(client!.AsyncResult<number>(callbackId).get({ timeout: 15_000 })).resolves.toBe(13);
  }, 30_000);

  it('link: a celeriac task calls back a Python task', async () => {
    const callbackId = randomUUID();
    const link = new Signature('tasks.mul', [10], {}, { queue: PY_QUEUE, task_id: callbackId });
    const result = await client!.sendTask<number>('tasks.add', [2, 3], {}, { queue: TS_QUEUE, link });
    await expect(result.get({ timeout: 15_000 })).resolves.toBe(5);
    await expect(client!.AsyncResult<number>(callbackId).get({ timeout: 15_000 })).resolves.toBe(50);
  }, 30_000);

  it('results written by celeriac are read by Python', async () => {
    const backend = (await client!.connectBackend())!;
    const ok = randomUUID();
    const value = { nested: [1, 2, { deep: 'yes' }], unicode: 'ünï ✓' };
    await backend.storeResult({ status: 'SUCCESS', result: value, traceback: null, children: [], date_done: new Date().toISOString(), task_id: ok });
    await expect(runPythonClient({ op: 'get', id: ok, timeout: 5 }, env)).resolves.toMatchObject({ ok: true, state: 'SUCCESS', result: value });
    const failed = randomUUID();
    await backend.storeResult({
      status: 'FAILURE',
      result: { exc_type: 'KeyError', exc_message: ['missing-key'], exc_module: 'builtins' },
      traceback: 'KeyError: missing-key',
      children: [],
      date_done: new Date().toISOString(),
      task_id: failed,
    });
    const out = await runPythonClient<PyOutcome>({ op: 'get', id: failed, timeout: 5 }, env);
    expect(out).toMatchObject({ ok: false, state: 'FAILURE', exc_type: 'KeyError', exc_args: ['missing-key'] });
  }, 30_000);

  it('results written by Python are read by celeriac', async () => {
    const ok = randomUUID();
    const value = { list: [1, 'two', null], flag: false, text: 'ünï ✓' };
    await runPythonClient({ op: 'store', id: ok, state: 'SUCCESS', result: value }, env);
    const result = client!.AsyncResult(ok);
    await expect(result.get({ timeout: 5_000 })).resolves.toEqual(value);
    expect(await result.dateDone).toBeInstanceOf(Date);
    const failed = randomUUID();
    await runPythonClient({ op: 'store_failure', id: failed, message: 'stored by python' }, env);
    const err = await rejection(client!.AsyncResult(failed).get({ timeout: 5_000 }));
    expect(err).toMatchObject({ excType: 'ValueError', excMessage: ['stored by python'], excModule: 'builtins' });
  }, 30_000);
});
