/**
 * Python Celery clients calling celeriac workers on a shared Redis (broker DB 2, results DB 3):
 * values, errors, countdown/eta/expires/priority sent from Python, and `link` callbacks crossing
 * between a celeriac worker and a Python worker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Celery } from '../../src/app/celery.js';
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
import { waitFor } from '../helpers/wait.js';
import { celeriacApp, closeCeleriac, defineCeleriacTasks, flushDbs, pythonEnv, redisClient, startCeleriacWorker, teardownInterop } from './support.js';

const status = pythonCeleryStatus();
const DBS = { broker: 2, backend: 3 };
const TS_QUEUE = uniqueName('interop-ts');
const PY_QUEUE = uniqueName('interop-py');
const env = pythonEnv(DBS, PY_QUEUE);

/** Call a task from Python and wait for its result there. */
const pyCall = (task: string, args: unknown[], options: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  runPythonClient<PyOutcome>({ op: 'call', task, args, options: { queue: TS_QUEUE, ...options }, timeout: 15, ...extra }, env);

describe.skipIf(status.skip)(interopTitle('Python client → celeriac worker', status), () => {
  let app: Celery | undefined;
  let worker: Worker | undefined;
  let pyWorker: PythonWorker | undefined;
  let ran: string[] = [];

  beforeAll(async () => {
    requirePythonCelery(status);
    await flushDbs(DBS);
    app = celeriacApp('interop-python-client', DBS);
    ran = defineCeleriacTasks(app).ran;
    worker = await startCeleriacWorker(app, [TS_QUEUE]);
    pyWorker = await startPythonWorker({ ...env, queue: PY_QUEUE });
  }, 60_000);

  afterAll(() => teardownInterop(DBS, status, { pyWorker, worker, apps: [app] }), 60_000);

  it('apply_async of tasks.add returns the value to result.get()', async () => {
    const out = await pyCall('tasks.add', [2, 2]);
    expect(out).toMatchObject({ ok: true, state: 'SUCCESS', result: 4 });
    const kw = await runPythonClient<PyOutcome>({ op: 'call', task: 'tasks.add', kwargs: { x: 1, y: 2 }, options: { queue: TS_QUEUE } }, env);
    expect(kw).toMatchObject({ ok: true, result: 3 });
  }, 30_000);

  it('a JS TypeError is raised in Python as TypeError with the same message', async () => {
    const out = await pyCall('tasks.type_fail', ['bad operand from TS']);
    expect(out).toMatchObject({
      ok: false,
      state: 'FAILURE',
      exc_type: 'TypeError',
      exc_module: 'builtins',
      exc_message: 'bad operand from TS',
      exc_args: ['bad operand from TS'],
    });
  }, 30_000);

  it('an error class unknown to Python keeps its name and message', async () => {
    const out = await pyCall('tasks.quota_fail', ['quota of 3 exceeded']);
    expect(out).toMatchObject({ ok: false, state: 'FAILURE', exc_type: 'QuotaExceeded', exc_message: 'quota of 3 exceeded' });
  }, 30_000);

  it('countdown from Python: the task runs no earlier than requested', async () => {
    const out = await pyCall('tasks.stamp', [], { countdown: 2 });
    expect(out.ok).toBe(true);
    // Python computes eta = now + 2 s after sent_at; allow 10 ms for celeriac's millisecond dates.
    expect(out.result as number).toBeGreaterThanOrEqual(out.sent_at! + 2 - 0.01);
    expect(out.result as number).toBeLessThan(out.sent_at! + 10);
  }, 30_000);

  it('eta from Python: the task runs no earlier than the eta', async () => {
    const out = await pyCall('tasks.stamp', [], { eta_in: 2 });
    expect(out.ok).toBe(true);
    expect(out.result as number).toBeGreaterThanOrEqual(out.sent_at! + 2 - 0.01);
    expect(out.result as number).toBeLessThan(out.sent_at! + 10);
  }, 30_000);

  it('an expired task is not run; Python sees REVOKED and TaskRevokedError', async () => {
    const out = await pyCall('tasks.record', ['expired-before-arrival'], { expires_in: -10 });
    expect(out).toMatchObject({ ok: false, state: 'REVOKED', exc_type: 'TaskRevokedError' });
    // Expires before its countdown is due: held until the eta, then revoked instead of run.
    const late = await pyCall('tasks.record', ['expired-while-waiting'], { countdown: 1.5, expires: 0.5 });
    expect(late).toMatchObject({ ok: false, state: 'REVOKED', exc_type: 'TaskRevokedError' });
    expect(ran).not.toContain('expired-before-arrival');
    expect(ran).not.toContain('expired-while-waiting');
  }, 30_000);

  it('priority from Python: lower numbers run first on Redis (kombu priority steps)', async () => {
    const queue = uniqueName('interop-prio');
    const calls = [9, 6, 3, 0].map((priority) => ({ task: 'tasks.record', args: [`prio-${priority}`], options: { queue, priority } }));
    const sent = await runPythonClient<{ ids: string[] }>({ op: 'send', calls }, env);
    expect(sent.ids).toHaveLength(4);
    // What Python wrote: kombu's lists per priority step, `queue` and `queue\x06\x16<step>`.
    const redis = redisClient(DBS.broker);
    try {
      await redis.connect();
      const lengths = await Promise.all(['', '\x06\x163', '\x06\x166', '\x06\x169'].map((suffix) => redis.llen(queue + suffix)));
      expect(lengths).toEqual([1, 1, 1, 1]);
    } finally {
      redis.disconnect();
    }
    const prioApp = celeriacApp('interop-prio', DBS);
    const prio = defineCeleriacTasks(prioApp);
    let prioWorker: Worker | undefined;
    try {
      prioWorker = await startCeleriacWorker(prioApp, [queue], { concurrency: 1, prefetchMultiplier: 1 });
      await waitFor(() => prio.ran.length === 4, 15_000, 'all four prioritised tasks ran');
      expect(prio.ran).toEqual(['prio-0', 'prio-3', 'prio-6', 'prio-9']);
    } finally {
      await closeCeleriac(prioWorker, prioApp);
    }
  }, 45_000);

  it('link: a celeriac task calls back a Python task on the Python worker', async () => {
    const link = { task: 'tasks.mul', args: [10], kwargs: {}, options: { queue: PY_QUEUE }, subtask_type: null, immutable: false };
    const out = await pyCall('tasks.add', [2, 2], {}, { links: [link] });
    expect(out).toMatchObject({ ok: true, result: 4 });
    expect(out.links).toEqual([expect.objectContaining({ ok: true, state: 'SUCCESS', result: 40 })]);
  }, 30_000);

  it('link: a Python task calls back a celeriac task on the celeriac worker', async () => {
    const link = { task: 'tasks.add', args: [1], kwargs: {}, options: { queue: TS_QUEUE }, subtask_type: null, immutable: false };
    const out = await pyCall('tasks.mul', [3, 4], { queue: PY_QUEUE }, { links: [link] });
    expect(out).toMatchObject({ ok: true, result: 12 });
    expect(out.links).toEqual([expect.objectContaining({ ok: true, state: 'SUCCESS', result: 13 })]);
  }, 30_000);
});
