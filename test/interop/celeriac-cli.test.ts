/**
 * The `celeriac` command line against Python Celery on a shared Redis (broker DB 8, results DB 9):
 * a `celeriac worker` serving Python clients, and `celeriac call --wait` on a Python worker's task.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, startWorker, type RunningWorker } from '../helpers/cli.js';
import {
  interopTitle,
  pythonCeleryStatus,
  redisUrl,
  requirePythonCelery,
  runPythonClient,
  startPythonWorker,
  stopProcess,
  uniqueName,
  type PyOutcome,
  type PythonWorker,
} from '../helpers/python.js';
import { flushDbs, pythonEnv, teardownInterop } from './support.js';

const status = pythonCeleryStatus();
const DBS = { broker: 8, backend: 9 };
const APP = 'test/interop/fixtures/tasks.ts';
const TS_QUEUE = uniqueName('interop-ts');
const PY_QUEUE = uniqueName('interop-py');
const env = pythonEnv(DBS, PY_QUEUE);
const connection = ['-b', redisUrl(DBS.broker), '--result-backend', redisUrl(DBS.backend)];
/** No CELERIAC_* settings leak in from the environment running the tests. */
const cliEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('CELERIAC_')).map((k) => [k, undefined]));

describe.skipIf(status.skip)(interopTitle('celeriac CLI with Python Celery', status), () => {
  let tsWorker: RunningWorker | undefined;
  let pyWorker: PythonWorker | undefined;

  beforeAll(async () => {
    requirePythonCelery(status);
    if (!existsSync(join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does it)');
    await flushDbs(DBS);
    tsWorker = await startWorker(['-A', APP, 'worker', ...connection, '-Q', TS_QUEUE, '-c', '2', '-n', `ts-cli-${TS_QUEUE}@%h`], cliEnv);
    pyWorker = await startPythonWorker({ ...env, queue: PY_QUEUE });
  }, 60_000);

  afterAll(
    () =>
      teardownInterop(DBS, status, {
        pyWorker,
        stopOther: async () => {
          if (tsWorker) await stopProcess(tsWorker.child, tsWorker.exited.then(() => undefined));
        },
      }),
    60_000,
  );

  it('a `celeriac worker` serves tasks.add to a Python client', async () => {
    const out = await runPythonClient<PyOutcome>({ op: 'call', task: 'tasks.add', args: [2, 2], options: { queue: TS_QUEUE } }, env);
    expect(out, tsWorker?.logs()).toMatchObject({ ok: true, state: 'SUCCESS', result: 4 });
  }, 30_000);

  it('a failing task in `celeriac worker` raises in Python with its type name and message', async () => {
    const out = await runPythonClient<PyOutcome>({ op: 'call', task: 'tasks.fail', args: ['value out of range'], options: { queue: TS_QUEUE } }, env);
    expect(out, tsWorker?.logs()).toMatchObject({ ok: false, state: 'FAILURE', exc_type: 'RangeError', exc_message: 'value out of range' });
  }, 30_000);

  it('`celeriac call tasks.mul --wait` prints the Python worker\'s result', async () => {
    const res = await runCli(['-A', APP, 'call', 'tasks.mul', '--args', '[3,4]', '--queue', PY_QUEUE, '--wait', '--timeout', '15', ...connection], cliEnv, 30_000);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim()).toBe('12');
  }, 30_000);

  it('`celeriac call --wait` of a failing Python task exits 1 with the Python error', async () => {
    const res = await runCli(['-A', APP, 'call', 'tasks.py_fail', '--queue', PY_QUEUE, '--wait', '--timeout', '15', ...connection], cliEnv, 30_000);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain('ValueError');
    expect(res.stderr).toContain('python says no');
  }, 30_000);

  it('`celeriac result --wait` reads a result the Python worker stored', async () => {
    const sent = await runPythonClient<PyOutcome>({ op: 'call', task: 'tasks.mul', args: [5, 5], options: { queue: PY_QUEUE } }, env);
    expect(sent).toMatchObject({ ok: true, result: 25 });
    const res = await runCli(['result', sent.id, '--wait', '--timeout', '10', ...connection], cliEnv, 30_000);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim()).toBe('25');
  }, 30_000);
});
