/**
 * RabbitMQ faults, on the shared server without restarting it: a worker's connections are closed by
 * force (`rabbitmqctl close_connection`, found by connection name) in the middle of a run, and a
 * worker process is SIGKILLed mid-task with acks late. Nothing may be lost: unacked messages return
 * to their queue when the connection dies, and the worker reconnects, redeclares and consumes again.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import type { Worker } from '../../src/worker/worker.js';
import { AMQP_URL, AmqpTestBrokers, closeConnectionsNamed } from '../helpers/amqp.js';
import { startWorker, type RunningWorker, killWorkers } from '../helpers/cli.js';
import { waitFor, within } from '../helpers/wait.js';

const cleanup = new AmqpTestBrokers();
const queue = `faults-${cleanup.runId}`;
afterAll(async () => {
  cleanup.track('queue', queue);
  cleanup.track('exchange', queue);
  await cleanup.cleanup();
});

function app(name: string, connectionName: string, extra: Record<string, unknown> = {}): Celery {
  return new Celery(
    name,
    { broker: AMQP_URL, backend: 'rpc://', logLevel: 'silent', taskDefaultQueue: queue, brokerTransportOptions: { connectionName, reconnectInitial: 0.05 }, ...extra },
    { env: {} },
  );
}

describe('amqp faults: connections closed by force', () => {
  let worker: Worker | undefined;
  const apps: Celery[] = [];
  afterEach(async () => {
    await worker?.close();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  it('a worker whose connections are closed mid-run reconnects, and every acks-late task still completes', async () => {
    const workerName = `${cleanup.connectionName}-worker`;
    const workerApp = app('faults-worker', workerName, { taskAcksLate: true });
    const client = app('faults-client', `${cleanup.connectionName}-client`);
    apps.push(workerApp, client);
    const runs = new Map<number, number>();
    let closed = false;
    workerApp.task('faults.slow', async (n: number) => {
      runs.set(n, (runs.get(n) ?? 0) + 1);
      // The first tasks are still running (unacked) when their connection is closed.
      await waitFor(() => closed, 20_000, 'connections closed');
      await sleep(20);
      return n * 10;
    });
    const slow = client.task('faults.slow', (n: number) => n * 10);
    worker = workerApp.worker({ concurrency: 4, prefetchMultiplier: 1 });
    await worker.start();
    const before = await Promise.all(Array.from({ length: 12 }, (_, i) => slow.delay(i)));
    await waitFor(() => runs.size >= 4, 10_000, 'tasks running');
    expect(await closeConnectionsNamed(workerName)).toBeGreaterThanOrEqual(2); // broker + rpc backend
    closed = true;
    // Sent while the worker is reconnecting: queued by RabbitMQ and consumed after recovery.
    const after = await Promise.all(Array.from({ length: 4 }, (_, i) => slow.delay(100 + i)));
    const values = await within(Promise.all([...before, ...after].map((r) => r.get({ timeout: 30_000 }))), 35_000, 'all results');
    expect(values).toEqual([...Array.from({ length: 12 }, (_, i) => i * 10), 1000, 1010, 1020, 1030]);
    // Tasks whose late ack died with the connection were delivered again (at least once, none lost).
    expect([...runs.keys()].length).toBe(16);
    expect([...runs.values()].some((count) => count >= 2)).toBe(true);
    const broker = await client.connectBroker();
    await waitFor(async () => (await broker.queueSize(queue)) === 0, 10_000, 'queue drained');
  }, 60_000);
});

describe('amqp faults: a SIGKILLed worker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-amqp-kill-'));
  const workers: RunningWorker[] = [];
  afterEach(async () => {
    await killWorkers(workers);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs an acks-late task again after its worker is killed mid-task, and the result arrives over rpc://', async () => {
    const env = {
      CELERIAC_BROKER_URL: AMQP_URL,
      CELERIAC_RESULT_BACKEND: 'rpc://',
      CELERIAC_BROKER_TRANSPORT_OPTIONS: JSON.stringify({ connectionName: `${cleanup.connectionName}-cli` }),
    };
    const cli = ['-A', 'test/cli/fixtures/tasks.ts'];
    const marker = join(dir, 'starts.log');
    const release = join(dir, 'release');
    const first = await startWorker([...cli, 'worker', '-Q', queue, '-c', '1'], env);
    workers.push(first);
    const client = app('kill-client', `${cleanup.connectionName}-kill-client`);
    try {
      const result = await client.sendTask('tasks.lateUntilReleased', [marker, release], {}, { queue });
      await waitFor(() => existsSync(marker), 15_000, 'task started');
      first.child.kill('SIGKILL');
      await first.exited;
      // No visibility timeout involved: RabbitMQ requeued the unacked message when the connection died.
      const broker = await client.connectBroker();
      await waitFor(async () => (await broker.queueSize(queue)) === 1, 10_000, 'message back in its queue');
      workers.push(await startWorker([...cli, 'worker', '-Q', queue, '-c', '1'], env));
      // The requeued message runs again; only then may it finish (the first run cannot have).
      await waitFor(() => readFileSync(marker, 'utf8').trim().split('\n').length === 2, 30_000, 'the task started again');
      writeFileSync(release, '');
      expect(await result.get({ timeout: 30_000 })).toBe('done');
    } finally {
      await client.close();
    }
  }, 60_000);
});
