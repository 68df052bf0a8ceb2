/**
 * Time limits and retries across languages (broker DB 12, results DB 13): a Python client's
 * `time_limit=1` stops a celeriac task that loops forever, and a celeriac task's backoff retries
 * are visible from Python as RETRY states before its SUCCESS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type RunningWorker } from '../helpers/cli.js';
import { interopTitle, pythonCeleryStatus, requirePythonCelery, runPythonClient, uniqueName, type PyOutcome } from '../helpers/python.js';
import { redisUrl } from '../helpers/python.js';
import { flushDbs, pythonEnv } from './support.js';

const status = pythonCeleryStatus();
const DBS = { broker: 12, backend: 13 };
const QUEUE = uniqueName('interop-limits');
const env = pythonEnv(DBS, QUEUE);

type Watched = PyOutcome & { states: { state: string; at: number; exc_type: string | null }[] };

describe.skipIf(status.skip)(interopTitle('time limits and retries across languages', status), () => {
  let worker: RunningWorker | undefined;

  beforeAll(async () => {
    requirePythonCelery(status);
    await flushDbs(DBS);
    worker = await startWorker(
      ['-A', 'test/interop/fixtures/limits-tasks.ts', 'worker', '-P', 'threads', '-c', '2', '-Q', QUEUE, '-b', redisUrl(DBS.broker), '--result-backend', redisUrl(DBS.backend)],
      {},
    );
  }, 60_000);

  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    if (!status.skip) await flushDbs(DBS);
  }, 30_000);

  it('time_limit=1 from Python stops a celeriac task that loops forever; the worker keeps serving', async () => {
    const out = await runPythonClient<PyOutcome>({ op: 'call', task: 'tasks.spin', options: { queue: QUEUE, time_limit: 1 }, timeout: 20 }, env);
    expect(out).toMatchObject({ ok: false, state: 'FAILURE', exc_type: 'TimeLimitExceeded' });
    const after = await runPythonClient<PyOutcome>({ op: 'call', task: 'tasks.add', args: [20, 22], options: { queue: QUEUE } }, env);
    expect(after).toMatchObject({ ok: true, result: 42 });
  }, 45_000);

  it('retryBackoff: three failures, then SUCCESS, with the RETRY states and intervals visible from Python', async () => {
    const out = await runPythonClient<Watched>({ op: 'watch', task: 'tasks.flaky', options: { queue: QUEUE }, timeout: 30 }, env, { timeoutMs: 45_000 });
    expect(out).toMatchObject({ ok: true, state: 'SUCCESS', result: 'succeeded after 3 retries' });
    const retries = out.states.filter((s) => s.state === 'RETRY');
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries.every((s) => s.exc_type === 'FlakyError')).toBe(true);
    const first = out.states[0]!;
    const last = out.states[out.states.length - 1]!;
    expect(last.state).toBe('SUCCESS');
    // Three retries 1 s apart (backoff factor 1 s, capped at 1 s): at least ~3 s from first sight to SUCCESS.
    expect(last.at - first.at).toBeGreaterThanOrEqual(2.5);
  }, 60_000);
});
