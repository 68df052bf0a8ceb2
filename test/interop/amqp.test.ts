/**
 * Python Celery and celeriac over RabbitMQ with the rpc:// result backend, both directions: a Python
 * client (broker amqp://guest:guest@127.0.0.1:5672//, backend rpc://) calls celeriac tasks and gets
 * their results and errors; a celeriac client calls Python tasks the same way; countdowns cross through
 * the native delayed-delivery exchanges. Each run uses its own queues, deleted afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import { RemoteTaskError } from '../../src/errors.js';
import type { Worker } from '../../src/worker/worker.js';
import { AMQP_URL, AmqpTestBrokers } from '../helpers/amqp.js';
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
import { holdsFor, waitFor } from '../helpers/wait.js';
import { closeCeleriac, defineCeleriacTasks, startCeleriacWorker } from './support.js';

const status = pythonCeleryStatus();
const TS_QUEUE = uniqueName('interop-amqp-ts');
const PY_QUEUE = uniqueName('interop-amqp-py');
const env = { brokerUrl: AMQP_URL, backendUrl: 'rpc://', queue: PY_QUEUE };
const cleanup = new AmqpTestBrokers();

const pyCall = (task: string, args: unknown[], options: Record<string, unknown> = {}) =>
  runPythonClient<PyOutcome>({ op: 'call', task, args, options: { queue: TS_QUEUE, ...options }, timeout: 20 }, env);

function amqpApp(name: string): Celery {
  return new Celery(name, { broker: AMQP_URL, backend: 'rpc://', logLevel: 'silent', brokerTransportOptions: { connectionName: cleanup.connectionName } }, { env: {} });
}

describe.skipIf(status.skip)(interopTitle('Python Celery ⇄ celeriac over RabbitMQ with rpc://', status), () => {
  let app: Celery | undefined;
  let client: Celery | undefined;
  let worker: Worker | undefined;
  let pyWorker: PythonWorker | undefined;

  beforeAll(async () => {
    requirePythonCelery(status);
    app = amqpApp('interop-amqp-worker');
    defineCeleriacTasks(app);
    worker = await startCeleriacWorker(app, [TS_QUEUE]);
    pyWorker = await startPythonWorker({ ...env, queue: PY_QUEUE });
    client = amqpApp('interop-amqp-client');
  }, 60_000);

  afterAll(async () => {
    await pyWorker?.stop();
    await closeCeleriac(worker, app);
    await client?.close();
    for (const q of [TS_QUEUE, PY_QUEUE]) {
      cleanup.track('queue', q);
      cleanup.track('exchange', q);
    }
    await cleanup.cleanup();
  }, 60_000);

  it('a Python client gets a celeriac task’s result through rpc://', async () => {
    expect(await pyCall('tasks.add', [2, 3])).toMatchObject({ ok: true, state: 'SUCCESS', result: 5 });
  }, 40_000);

  it('a celeriac failure reaches Python as the same exception type and message', async () => {
    const out = await pyCall('tasks.type_fail', ['bad operand from TS']);
    expect(out).toMatchObject({ ok: false, state: 'FAILURE', exc_type: 'TypeError', exc_message: 'bad operand from TS' });
  }, 40_000);

  it('a Python countdown reaches the celeriac worker, which defers it through the broker and runs it on time', async () => {
    const received = worker!.stats.received;
    const calling = pyCall('tasks.stamp', [], { countdown: 3 });
    await waitFor(() => worker!.stats.received > received, 15_000, 'the worker received the countdown task');
    // Handed back to the broker's delay queues (one confirmed publish): then nothing is held while the countdown runs.
    await waitFor(() => worker!.heldRequests().length === 0, 2000, 'deferral to the broker');
    await holdsFor(() => worker!.heldRequests().length === 0 && worker!.stats.scheduled === 0, 1000, 'nothing held in worker memory');
    const out = await calling;
    expect(out.ok).toBe(true);
    expect(out.result as number).toBeGreaterThanOrEqual((out.sent_at as number) + 3 - 0.05);
  }, 40_000);

  it('a celeriac client gets a Python task’s result through rpc://', async () => {
    const result = await client!.sendTask<number>('tasks.mul', [6, 7], {}, { queue: PY_QUEUE });
    expect(await result.get({ timeout: 20_000 })).toBe(42);
  }, 40_000);

  it('a Python failure reaches celeriac as RemoteTaskError with Python’s type', async () => {
    const result = await client!.sendTask('tasks.py_fail', [], {}, { queue: PY_QUEUE });
    const error = (await result.get({ timeout: 20_000, propagate: false })) as RemoteTaskError;
    expect(error).toBeInstanceOf(RemoteTaskError);
    expect(error).toMatchObject({ excType: 'ValueError', excMessage: ['python says no'] });
  }, 40_000);

  it('a celeriac countdown goes through the delayed-delivery exchanges and a Python worker runs it after the delay', async () => {
    const sentAt = Date.now() / 1000;
    const result = await client!.sendTask<number>('tasks.py_stamp', [], {}, { queue: PY_QUEUE, countdown: 2 });
    const ranAt = await result.get({ timeout: 20_000 });
    expect(ranAt).toBeGreaterThanOrEqual(sentAt + 2 - 0.05);
  }, 40_000);
});
