/**
 * Real `celeriac worker` processes: the processes and threads pools (recycling, hard time limits)
 * and Celery's shutdown stages driven by signals, on the embedded SQLite broker and on Redis.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import type { AsyncResult } from '../../src/app/result.js';
import { startWorker, type RunningWorker, killWorkers } from '../helpers/cli.js';
import { waitFor, within } from '../helpers/wait.js';

const APP = 'test/cli/fixtures/pool-tasks.ts';
const REDIS = process.env.CELERIAC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const REDIS_BACKEND = process.env.CELERIAC_TEST_REDIS_BACKEND_URL ?? 'redis://127.0.0.1:6379/1';

type Env = Record<string, string>;
const setups: [string, (dir: string) => Env][] = [
  ['sqlite', (dir) => ({
    CELERIAC_BROKER_URL: `sqlite:///${dir}/broker.db`,
    CELERIAC_RESULT_BACKEND: `sqlite:///${dir}/results.db`,
    CELERIAC_BROKER_TRANSPORT_OPTIONS: '{"pollingInterval": 0.05}',
  })],
  ['redis', () => ({
    CELERIAC_BROKER_URL: REDIS,
    CELERIAC_RESULT_BACKEND: REDIS_BACKEND,
    CELERIAC_BROKER_TRANSPORT_OPTIONS: JSON.stringify({ globalKeyprefix: `procs-${Math.random().toString(36).slice(2, 10)}:` }),
  })],
];

describe.each(setups)('worker processes on %s', (_name, makeEnv) => {
  let dir: string;
  let env: Env;
  let client: Celery;
  const workers: RunningWorker[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'celeriac-procs-'));
    env = makeEnv(dir);
    const transportOptions = JSON.parse(env.CELERIAC_BROKER_TRANSPORT_OPTIONS!) as Record<string, unknown>;
    client = new Celery('client', { broker: env.CELERIAC_BROKER_URL, backend: env.CELERIAC_RESULT_BACKEND, brokerTransportOptions: transportOptions, logLevel: 'silent' }, { env: {} });
  });

  afterEach(async () => {
    await killWorkers(workers);
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function worker(...args: string[]): Promise<RunningWorker> {
    const w = await startWorker(['-A', APP, 'worker', '-l', 'info', ...args], env);
    workers.push(w);
    return w;
  }
  const send = (name: string, args: unknown[] = []) => client.sendTask(name, args);
  const outcome = (r: AsyncResult) => r.get({ timeout: 20_000 }).catch((e: unknown) => e);

  it('-P processes -c 2 --max-tasks-per-child 10 recycles children, says so in the log, and loses no task', async () => {
    const w = await worker('-P', 'processes', '-c', '2', '--max-tasks-per-child', '10');
    const results = await Promise.all(Array.from({ length: 40 }, () => send('proc.where')));
    const values = (await Promise.all(results.map((r) => r.get({ timeout: 30_000 })))) as { pid: number }[];
    expect(values).toHaveLength(40);
    const pids = new Set(values.map((v) => v.pid));
    expect(pids.has(w.child.pid!)).toBe(false);
    expect(pids.size).toBeGreaterThanOrEqual(4); // 40 tasks, 10 per child at most
    expect(w.logs()).toMatch(/recycling pool worker \d+: max tasks per child \(10\) reached/);
  });

  it('-P threads stops a CPU-bound task at --time-limit, stores TimeLimitExceeded and keeps serving', async () => {
    await worker('-P', 'threads', '-c', '1', '--time-limit', '1');
    const error = await outcome(await send('proc.spin'));
    expect(error).toMatchObject({ excType: 'TimeLimitExceeded', excMessage: [1] });
    expect(await (await send('proc.add', [2, 3])).get({ timeout: 20_000 })).toBe(5);
  });

  it('revoke with terminate kills a task running in a child process and stores REVOKED', async () => {
    await worker('-P', 'processes', '-c', '1');
    const spinning = await send('proc.spin');
    await waitFor(async () => (await spinning.state) === 'STARTED', 10_000, 'the task running');
    await spinning.revoke({ terminate: true, signal: 'SIGKILL' });
    const error = await outcome(spinning);
    expect(error).toMatchObject({ excType: 'TaskRevokedError', excMessage: ['terminated'] });
    expect(await (await send('proc.add', [1, 2])).get({ timeout: 20_000 })).toBe(3);
  });

  it('warm shutdown (SIGTERM): running tasks finish, reserved ones go back to the queue', async () => {
    const w = await worker('-c', '1', '--prefetch-multiplier', '4');
    const running = await send('proc.nap', [600]);
    const reserved = await Promise.all([1, 2].map(() => send('proc.add', [1, 1])));
    await waitFor(async () => (await client.connectBroker().then((b) => b.queueSize('celery'))) === 0, 10_000, 'both reserved');
    w.child.kill('SIGTERM');
    expect(await within(w.exited, 15_000, 'warm exit')).toBe(0);
    expect(await running.get({ timeout: 1000 })).toBe('rested');
    const states = await Promise.all(reserved.map((r) => r.state));
    expect(states.filter((s) => s === 'SUCCESS').length + (await client.connectBroker().then((b) => b.queueSize('celery')))).toBe(2);
    await worker('-c', '1');
    for (const r of reserved) expect(await r.get({ timeout: 20_000 })).toBe(2);
  });

  it('soft shutdown: --soft-shutdown-timeout lets tasks run that long, then goes cold', async () => {
    const w = await worker('-c', '2', '--soft-shutdown-timeout', '0.5');
    const early = await send('proc.nap', [30_000]);
    const late = await send('proc.napLate', [30_000]);
    await waitFor(async () => (await client.connectBroker().then((b) => b.queueSize('celery'))) === 0, 10_000, 'both taken');
    const started = Date.now();
    w.child.kill('SIGTERM');
    await within(w.exited, 15_000, 'soft shutdown exit');
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(w.logs()).toContain('soft shutdown timeout reached');
    expect(await outcome(early)).toMatchObject({ excType: 'WorkerLostError' });
    // acks late + reject on worker lost: back in the queue, nothing stored.
    expect(await late.state).toBe('PENDING');
    expect(await client.connectBroker().then((b) => b.queueSize('celery'))).toBe(1);
  });

  it('cold shutdown (SIGQUIT): stops tasks; acks-late + rejectOnWorkerLost go back, others fail, none dropped', async () => {
    const w = await worker('-c', '2');
    const early = await send('proc.nap', [30_000]);
    const late = await send('proc.napLate', [300]);
    await waitFor(async () => (await client.connectBroker().then((b) => b.queueSize('celery'))) === 0, 10_000, 'both taken');
    w.child.kill('SIGQUIT');
    await within(w.exited, 15_000, 'cold exit');
    expect(await outcome(early)).toMatchObject({ excType: 'WorkerLostError' });
    expect(await late.state).toBe('PENDING');
    await worker('-c', '1');
    expect(await late.get({ timeout: 20_000 })).toBe('rested late');
  });
});
