/**
 * Redis trouble (issue 3 §4): a private redis-server is killed and restarted under an idle worker, a
 * busy worker and a waiting client; a worker is SIGKILLed mid-task with acks late. Nothing may be lost
 * and nothing may silently stop.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import type { Worker } from '../../src/worker/worker.js';
import { runCli, startWorker, type RunningWorker, killWorkers } from '../helpers/cli.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

let redis: PrivateRedis;
beforeAll(async () => {
  redis = await startPrivateRedis();
});
afterAll(async () => {
  await redis.dispose();
});

describe('redis faults: server restarts', () => {
  let producer: Celery;
  let workerApp: Celery;
  let worker: Worker;
  let ran: string[];

  const apps = async (): Promise<void> => {
    const config = { broker: redis.url(0), resultBackend: redis.url(1), logLevel: 'silent' as const };
    producer = new Celery('producer', config, { env: {} });
    workerApp = new Celery('worker', config, { env: {} });
    ran = [];
    for (const app of [producer, workerApp]) {
      app.task('tasks.echo', (value: string) => {
        ran.push(value);
        return value;
      });
      app.task('tasks.sleep', async (ms: number) => {
        await new Promise((resolve) => setTimeout(resolve, ms));
        return ms;
      });
    }
    worker = workerApp.worker({ concurrency: 2, hostname: 'faults@test' });
    await worker.start();
  };

  afterEach(async () => {
    await worker.close();
    await producer.close();
    await workerApp.close();
  });

  const restart = async (): Promise<void> => {
    await redis.stop();
    await redis.start();
  };

  it('an idle worker reconnects and goes on consuming after a restart', async () => {
    await apps();
    expect(await producer.sendTask('tasks.echo', ['before']).then((r) => r.get({ timeout: 10_000 }))).toBe('before');
    await restart();
    // The restarted Redis is empty: the worker must notice and block on the queue again.
    const after = await producer.sendTask('tasks.echo', ['after']);
    expect(await after.get({ timeout: 20_000 })).toBe('after');
  }, 40_000);

  it('a busy worker finishes, stores its result and goes on after a restart', async () => {
    await apps();
    const busy = await producer.sendTask<number>('tasks.sleep', [1500]);
    await waitFor(() => worker.stats.active === 1, 10_000, 'task running');
    await restart();
    expect(await busy.get({ timeout: 20_000 })).toBe(1500);
    const next = await producer.sendTask('tasks.echo', ['next']);
    expect(await next.get({ timeout: 20_000 })).toBe('next');
  }, 40_000);

  it('a client waiting on a result gets it after a restart', async () => {
    await apps();
    const slow = await producer.sendTask<number>('tasks.sleep', [2500]);
    const waiting = slow.get({ timeout: 25_000 });
    await waitFor(() => worker.stats.active === 1, 10_000, 'task running');
    await restart();
    expect(await waiting).toBe(2500);
  }, 40_000);
});

describe('redis faults: a SIGKILLed worker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-redis-kill-'));
  const workers: RunningWorker[] = [];
  afterEach(async () => {
    await killWorkers(workers);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs an acks-late task again after its worker is killed mid-task, and the result arrives', async () => {
    const env = {
      CELERIAC_BROKER_URL: redis.url(2),
      CELERIAC_RESULT_BACKEND: redis.url(3),
      // Short, so the dead worker's message is restored within the test.
      CELERIAC_BROKER_TRANSPORT_OPTIONS: JSON.stringify({ visibilityTimeout: 2 }),
    };
    const app = ['-A', 'test/cli/fixtures/tasks.ts'];
    const marker = join(dir, 'starts.log');
    const release = join(dir, 'release');
    const first = await startWorker([...app, 'worker'], env);
    workers.push(first);
    const sent = await runCli([...app, 'call', 'tasks.lateUntilReleased', '--args', JSON.stringify([marker, release])], env);
    const id = sent.stdout.trim();
    await waitFor(() => existsSync(marker), 15_000, 'task started');
    first.child.kill('SIGKILL');
    await first.exited;
    const raw = new Redis(redis.url(2));
    expect(await raw.hlen('unacked')).toBe(1); // left behind by the dead worker, as kombu's would be
    await raw.quit();
    workers.push(await startWorker([...app, 'worker'], env));
    // The restored message runs again; only then may it finish (the first run cannot have).
    await waitFor(() => readFileSync(marker, 'utf8').trim().split('\n').length === 2, 30_000, 'the task started again');
    writeFileSync(release, '');
    const res = await runCli([...app, 'result', id, '--wait', '--timeout', '30'], env, 40_000);
    expect(res.stdout.trim()).toBe('"done"');
    expect(readFileSync(marker, 'utf8').trim().split('\n')).toHaveLength(2);
  }, 60_000);
});
