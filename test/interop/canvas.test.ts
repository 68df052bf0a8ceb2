/**
 * Canvas across languages on a shared Redis (broker DB 10, results DB 11; DBs 2–9 are taken by the
 * other interop files): chains and chords built by Python Celery run entirely on celeriac workers
 * and Python reads the results; a celeriac chord runs its header on Python workers and its body on
 * celeriac, joined natively in Redis by whichever language finishes the header.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Celery } from '../../src/app/celery.js';
import type { AsyncResult } from '../../src/app/result.js';
import { chain, chord, Signature } from '../../src/canvas/index.js';
import type { Worker } from '../../src/worker/worker.js';
import { interopTitle, pythonCeleryStatus, requirePythonCelery, runPythonClient, startPythonWorker, uniqueName, type PyOutcome, type PythonWorker } from '../helpers/python.js';
import { celeriacApp, defineCeleriacTasks, flushDbs, pythonEnv, startCeleriacWorker, teardownInterop } from './support.js';

const status = pythonCeleryStatus();
const DBS = { broker: 10, backend: 11 };
const TS_QUEUE = uniqueName('interop-canvas-ts');
const PY_QUEUE = uniqueName('interop-canvas-py');
const env = pythonEnv(DBS, PY_QUEUE);

const onTs = (task: string, args: unknown[] = [], immutable = false) => ({ task, args, immutable, options: { queue: TS_QUEUE } });

describe.skipIf(status.skip)(interopTitle('canvas across Python and celeriac', status), () => {
  let app: Celery | undefined;
  let worker: Worker | undefined;
  let pyWorker: PythonWorker | undefined;
  let tasks: ReturnType<typeof defineCeleriacTasks>['tasks'];

  beforeAll(async () => {
    requirePythonCelery(status);
    await flushDbs(DBS);
    app = celeriacApp('interop-canvas', DBS);
    tasks = defineCeleriacTasks(app).tasks;
    worker = await startCeleriacWorker(app, [TS_QUEUE]);
    pyWorker = await startPythonWorker({ ...env, queue: PY_QUEUE });
  }, 60_000);

  afterAll(() => teardownInterop(DBS, status, { pyWorker, worker, apps: [app] }), 60_000);

  it('Python: chord([add.s(i, i) for i in range(100)], xsum.s()) on celeriac workers gives 9900', async () => {
    const header = Array.from({ length: 100 }, (_, i) => onTs('tasks.add', [i, i]));
    const out = await runPythonClient<PyOutcome>({ op: 'chord', header, body: onTs('tasks.xsum'), timeout: 30 }, env, { timeoutMs: 60_000 });
    expect(out).toMatchObject({ ok: true, state: 'SUCCESS', result: 9900 });
  }, 60_000);

  it('chain(add.s(2, 2), add.s(4), add.s(8)) gives 16 from Python and from celeriac', async () => {
    const steps = [onTs('tasks.add', [2, 2]), onTs('tasks.add', [4]), onTs('tasks.add', [8])];
    const out = await runPythonClient<PyOutcome & { parents: PyOutcome[] }>({ op: 'chain', steps, timeout: 20 }, env, { timeoutMs: 40_000 });
    expect(out).toMatchObject({ ok: true, result: 16 });
    expect(out.parents.map((p) => p.result)).toEqual([8, 4]);
    const q = { queue: TS_QUEUE };
    const res = await chain(tasks.add.s(2, 2).set(q), tasks.add.s(4).set(q), tasks.add.s(8).set(q)).delay();
    expect(await res.get({ timeout: 20_000 })).toBe(16);
  }, 60_000);

  it('a Python chord whose header fails on celeriac fails within seconds: the body result is ChordError', async () => {
    const started = Date.now();
    const header = [onTs('tasks.add', [1, 1]), onTs('tasks.type_fail', ['broken header'])];
    const out = await runPythonClient<PyOutcome>({ op: 'chord', header, body: onTs('tasks.xsum'), timeout: 20 }, env, { timeoutMs: 40_000 });
    // Python's get() re-raises the failed parent's (header's) error as soon as that is stored, as
    // Celery does; the body's ChordError is stored just after, so wait for it rather than race it.
    expect(out).toMatchObject({ ok: false, exc_type: 'TypeError' });
    const stored = await app!.AsyncResult(out.id).get({ timeout: 5000 }).catch((e: unknown) => e);
    expect(stored).toMatchObject({ excType: 'ChordError', excModule: 'celery.exceptions' });
    // Python rebuilds the stored ChordError; its text names the failed header task.
    const meta = await runPythonClient<{ status: string; result: string }>({ op: 'meta', id: out.id }, env);
    expect(meta.status).toBe('FAILURE');
    expect(meta.result).toMatch(/^Dependency [0-9a-f-]{36} raised TypeError\('broken header'\)$/);
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 60_000);

  it('a Python chain that fails on celeriac marks the later steps FAILURE for Python', async () => {
    const steps = [onTs('tasks.add', [1, 1]), onTs('tasks.type_fail', [], true), onTs('tasks.add', [1])];
    const out = await runPythonClient<PyOutcome & { parents: PyOutcome[] }>({ op: 'chain', steps, timeout: 20 }, env, { timeoutMs: 40_000 });
    // Python's get() raises as soon as the failed parent is stored; the later step is marked just
    // after (as Celery's worker does it), so wait for that mark rather than race it.
    expect(out).toMatchObject({ ok: false, exc_type: 'TypeError' });
    const last = await app!.AsyncResult(out.id).get({ timeout: 5000 }).catch((e: unknown) => e);
    expect(last).toMatchObject({ excType: 'TypeError' });
    const meta = await runPythonClient<{ status: string }>({ op: 'meta', id: out.id }, env);
    expect(meta.status).toBe('FAILURE');
  }, 60_000);

  it('a celeriac chord runs its header on Python workers and its body on celeriac', async () => {
    // tasks.mul exists only in Python: sent by name to the Python worker's queue.
    const header = Array.from({ length: 10 }, (_, i) => new Signature<number, never, AsyncResult<number>>('tasks.mul', [i, 2], {}, { queue: PY_QUEUE }, false, null, app));
    const res = await chord(header, tasks.xsum.s().set({ queue: TS_QUEUE })).delay();
    expect(await res.get({ timeout: 30_000 })).toBe(90);
  }, 60_000);
});
