/** The `celeriac` command line, run as separate processes on the embedded SQLite broker. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import { ROOT, runCli, startWorker, type RunningWorker, killWorkers } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const APP = 'test/cli/fixtures/tasks.ts';
let dir: string;
let env: NodeJS.ProcessEnv;
const workers: RunningWorker[] = [];

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does it)');
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-cli-'));
  env = {
    CELERIAC_BROKER_URL: `sqlite:///${dir}/broker.db`,
    CELERIAC_RESULT_BACKEND: `sqlite:///${dir}/results.db`,
    CELERIAC_BROKER_TRANSPORT_OPTIONS: '{"visibilityTimeout": 2, "pollingInterval": 0.05}',
  };
});

afterEach(async () => {
  await killWorkers(workers);
  rmSync(dir, { recursive: true, force: true });
});

describe('celeriac CLI', () => {
  it('runs a worker and `call --wait` prints the result', async () => {
    workers.push(await startWorker(['-A', APP, 'worker', '-c', '2'], env));
    const res = await runCli(['-A', APP, 'call', 'tasks.add', '--args', '[2,2]', '--wait', '--timeout', '15'], env);
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe('4');
  });

  it('`call` without --wait prints the id, and `result --wait` reads it', async () => {
    const sent = await runCli(['-A', APP, 'call', 'tasks.add', '--kwargs', '{"x": 1, "y": 2}'], env);
    expect(sent.code).toBe(0);
    const id = sent.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const pending = await runCli(['-A', APP, 'result', id], env);
    expect(pending.stdout.trim()).toBe('PENDING');
    workers.push(await startWorker(['-A', APP, 'worker'], env));
    const res = await runCli(['-A', APP, 'result', id, '--wait', '--timeout', '15'], env);
    expect(res.stdout.trim()).toBe('3');
  });

  it('exits non-zero with the remote error when the task failed', async () => {
    workers.push(await startWorker(['-A', APP, 'worker'], env));
    const res = await runCli(['-A', APP, 'call', 'tasks.fail', '--args', '["out of range"]', '--wait', '--timeout', '15'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('RangeError: out of range');
  });

  it('gives one-paragraph errors without stack traces', async () => {
    const cases: [string[], RegExp][] = [
      [['-A', 'no/such/module.ts', 'call', 'tasks.add'], /cannot load app module 'no\/such\/module.ts'/],
      [['-A', APP, 'call', 'tasks.nope'], /unknown task 'tasks.nope'.*registered tasks: tasks.add, tasks.fail, tasks.lateUntilReleased, tasks.slowLate/],
      [['-A', APP, 'call', 'tasks.add', '--args', '[2,'], /--args: not valid JSON/],
      [['-A', APP, 'frobnicate'], /unknown command 'frobnicate'/],
      [['-b', 'redis+nope://user:hunter2@localhost/0', 'call', 'tasks.add'], /broker_url/],
      [['-b', 'sqlite:////dev/null/cannot/broker.db', 'call', 'tasks.add'], /cannot connect to broker sqlite:\/\/\/\/dev\/null\/cannot\/broker.db/],
    ];
    for (const [args, pattern] of cases) {
      const res = await runCli(args, env);
      expect(res.code, args.join(' ')).not.toBe(0);
      expect(res.stderr, args.join(' ')).toMatch(pattern);
      expect(res.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
      expect(res.stderr).not.toContain('hunter2');
    }
  });

  it('logs one line for an unknown task and one for a garbage message, then runs the next task', async () => {
    const worker = await startWorker(['-A', APP, 'worker'], env);
    workers.push(worker);
    const producer = new Celery('p', { broker: env.CELERIAC_BROKER_URL, backend: env.CELERIAC_RESULT_BACKEND, logLevel: 'silent' }, { env: {} });
    try {
      await producer.sendTask('tasks.unknown', [1]);
      const broker = await producer.connectBroker();
      await broker.publish({ body: Buffer.from('garbage'), contentType: 'application/json', contentEncoding: 'utf-8', headers: { task: 'tasks.add', id: 'g1' }, properties: {} }, { exchange: '', routingKey: 'celery' });
      const good = await producer.sendTask<number>('tasks.add', [5, 5]);
      expect(await good.get({ timeout: 15_000 })).toBe(10);
    } finally {
      await producer.close();
    }
    const lines = worker.logs().split('\n');
    expect(lines.filter((l) => l.includes("unregistered task of type 'tasks.unknown'"))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('rejected malformed message'))).toHaveLength(1);
  });

  it('recovers an acks-late task after the worker is SIGKILLed mid-task', async () => {
    const marker = join(dir, 'starts.log');
    const release = join(dir, 'release');
    const first = await startWorker(['-A', APP, 'worker'], env);
    workers.push(first);
    const sent = await runCli(['-A', APP, 'call', 'tasks.lateUntilReleased', '--args', JSON.stringify([marker, release])], env);
    const id = sent.stdout.trim();
    await waitFor(() => existsSync(marker), 15_000);
    first.child.kill('SIGKILL');
    await first.exited;
    workers.push(await startWorker(['-A', APP, 'worker'], env));
    // The second worker runs it again; only then may it finish (the first run cannot have).
    await waitFor(() => readFileSync(marker, 'utf8').trim().split('\n').length === 2, 30_000);
    writeFileSync(release, '');
    const res = await runCli(['-A', APP, 'result', id, '--wait', '--timeout', '30'], env, 40_000);
    expect(res.stdout.trim()).toBe('"done"');
    expect(readFileSync(marker, 'utf8').trim().split('\n')).toHaveLength(2);
  }, 60_000);

  it('stops warmly on SIGTERM (exit 0) after finishing the running task', async () => {
    const marker = join(dir, 'starts.log');
    const worker = await startWorker(['-A', APP, 'worker'], env);
    workers.push(worker);
    const sent = await runCli(['-A', APP, 'call', 'tasks.slowLate', '--args', JSON.stringify([500, marker])], env);
    await waitFor(() => existsSync(marker), 15_000);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const res = await runCli(['-A', APP, 'result', sent.stdout.trim()], env);
    expect(res.stdout.trim()).toBe('"done"');
  });

  it('purges a queue with -f', async () => {
    for (let i = 0; i < 3; i++) await runCli(['-A', APP, 'call', 'tasks.add', '--args', '[1,1]'], env);
    const res = await runCli(['-A', APP, 'purge', '-f'], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Purged 3 message(s)');
  });
});
