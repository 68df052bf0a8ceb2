/**
 * A celeriac worker on SQS (fauxqs emulator, real AWS SDK): the visibility heartbeat keeps a long
 * task from being redelivered, an ETA beyond the visibility timeout runs once, backoffPolicy spaces
 * retries by ApproximateReceiveCount, and a warm shutdown returns reserved messages at once.
 */
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import { createBroker } from '../../src/brokers/index.js';
import type { Worker } from '../../src/worker/worker.js';
import { uniqueName } from '../helpers/python.js';
import { startSqsEmulator, type SqsEmulator } from '../helpers/sqs-emulator.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

let emulator: SqsEmulator;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  emulator = await startSqsEmulator();
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});
afterAll(async () => {
  await emulator?.stop();
});

function sqsApp(name: string, options: Record<string, unknown> = {}): Celery {
  const app = new Celery(name, {
    broker: 'sqs://AKID:s3cret%2Fkey@',
    resultBackend: null,
    brokerTransportOptions: { endpointUrl: emulator.endpoint, waitTimeSeconds: 1, ...options },
    logLevel: 'silent',
  }, { env: {} });
  cleanup.push(() => app.close());
  return app;
}

async function startWorker(app: Celery, queue: string, concurrency = 2, prefetchMultiplier = 1): Promise<Worker> {
  const worker = app.worker({ queues: [queue], concurrency, prefetchMultiplier, hostname: `w@${queue}` });
  await worker.start();
  cleanup.push(() => worker.close());
  return worker;
}

describe('worker on SQS', () => {
  it('extends the visibility of a running task so it is not redelivered (heartbeat)', async () => {
    const queue = uniqueName('heartbeat');
    const app = sqsApp('hb', { visibilityTimeout: 1 });
    const runs: number[] = [];
    const slow = app.task({ name: 'tasks.slow', acksLate: true }, async (ms: number) => {
      runs.push(Date.now());
      await new Promise((r) => setTimeout(r, ms));
      return 'done';
    });
    await startWorker(app, queue);
    const from = emulator.actions.length;
    await slow.applyAsync([3000], undefined, { queue });
    await waitFor(() => runs.length === 1, 5000, 'task start');
    // Three times the visibility timeout: without the heartbeat it would have run again by now.
    await holdsFor(() => runs.length === 1, 4500, 'no second run');
    const extensions = emulator.actions.slice(from).filter((a) => a.action === 'ChangeMessageVisibility');
    expect(extensions.length).toBeGreaterThanOrEqual(3);
    expect(extensions.every((a) => a.visibilityTimeout === 1)).toBe(true);
    expect(emulator.actions.slice(from).some((a) => a.action === 'DeleteMessage')).toBe(true);
  });

  it('runs a countdown longer than the visibility timeout once, when it is due', async () => {
    const queue = uniqueName('eta');
    const app = sqsApp('eta', { visibilityTimeout: 1 });
    const runs: number[] = [];
    const stamp = app.task('tasks.stamp', () => runs.push(Date.now()));
    await startWorker(app, queue);
    const sentAt = Date.now();
    await stamp.applyAsync([], undefined, { queue, countdown: 3 });
    await waitFor(() => runs.length === 1, 8000, 'the ETA task');
    expect(runs[0]! - sentAt).toBeGreaterThanOrEqual(2900);
    await holdsFor(() => runs.length === 1, 2500, 'no second run');
  });

  it('applies backoffPolicy by ApproximateReceiveCount to a failing backoffTasks task', async () => {
    const queue = uniqueName('backoff');
    const raw = new SQSClient({ region: 'us-east-1', endpoint: emulator.endpoint, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const url = (await raw.send(new CreateQueueCommand({ QueueName: queue }))).QueueUrl as string;
    raw.destroy();
    const app = sqsApp('backoff', {
      predefinedQueues: { [queue]: { url, backoffPolicy: { 1: 1, 2: 2 }, backoffTasks: ['tasks.flaky'] } },
    });
    const runs: number[] = [];
    const other: number[] = [];
    const flaky = app.task({ name: 'tasks.flaky', acksLate: true }, () => {
      runs.push(Date.now());
      if (runs.length < 3) throw new Error(`attempt ${runs.length} failed`);
      return 'ok';
    });
    const plain = app.task({ name: 'tasks.plain', acksLate: true }, () => {
      other.push(Date.now());
      throw new Error('not in backoffTasks');
    });
    await startWorker(app, queue);
    const from = emulator.actions.length;
    await flaky.applyAsync([], undefined, { queue });
    await plain.applyAsync([], undefined, { queue });
    await waitFor(() => runs.length === 3, 10_000, 'three attempts');
    expect(runs[1]! - runs[0]!).toBeGreaterThanOrEqual(900);
    expect(runs[2]! - runs[1]!).toBeGreaterThanOrEqual(1900);
    const changes = emulator.actions.slice(from).filter((a) => a.action === 'ChangeMessageVisibility').map((a) => a.visibilityTimeout);
    expect(changes).toEqual(expect.arrayContaining([1, 2]));
    // Not a backoff task: settled as usual (acked on failure, Celery's default), so it ran once.
    await holdsFor(() => other.length === 1, 1500, 'plain task not retried');
  });

  it('returns reserved messages at warm shutdown instead of leaving them invisible', async () => {
    const queue = uniqueName('shutdown');
    const app = sqsApp('shutdown');
    const started: string[] = [];
    const slow = app.task({ name: 'tasks.slow2', acksLate: true }, async (label: string) => {
      started.push(label);
      await new Promise((r) => setTimeout(r, 800));
      return label;
    });
    const worker = await startWorker(app, queue, 1, 4);
    for (const label of ['a', 'b', 'c', 'd']) await slow.applyAsync([label], undefined, { queue });
    await waitFor(() => started.length === 1 && worker.stats.reserved + worker.stats.active === 4, 5000, 'one running, three reserved');
    await worker.close();
    await app.close();
    expect(started).toHaveLength(1);
    // visibilityTimeout is 1800 s: only an explicit return makes them visible again this soon.
    const observer = createBroker('sqs://AKID:x@', { endpointUrl: emulator.endpoint });
    cleanup.push(() => observer.close());
    await waitFor(async () => (await observer.queueSize(queue)) === 3, 3000, 'three messages back in the queue');
  });
});
