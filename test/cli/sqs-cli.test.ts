/**
 * `celeriac worker -b sqs://…` end to end against the fauxqs emulator, as a user would run it: the
 * endpoint comes from broker_transport_options (`CELERIAC_BROKER_TRANSPORT_OPTIONS`) or, as in kombu,
 * from the URL's host. The secret key (with `/` and `+`) must not appear anywhere, even at -l debug.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, startWorker, type RunningWorker, killWorkers } from '../helpers/cli.js';
import { startSqsEmulator, type SqsEmulator } from '../helpers/sqs-emulator.js';

const APP = 'test/cli/fixtures/tasks.ts';
const SECRET = 'wJalrXUtn/FEMI+K7MDENG/bPxRfi+CYEXAMPLE';
const QUOTED = encodeURIComponent(SECRET);
let emulator: SqsEmulator;
let dir: string;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does it)');
  emulator = await startSqsEmulator();
  dir = mkdtempSync(join(tmpdir(), 'celeriac-sqs-cli-'));
});
afterEach(async () => {
  await killWorkers(workers);
});
afterAll(async () => {
  await emulator?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function expectNoSecret(text: string): void {
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain(QUOTED);
  for (const part of SECRET.split(/[/+]/)) expect(text).not.toContain(part);
}

describe('celeriac worker on SQS', () => {
  it('runs a task with the endpoint in broker_transport_options, never logging the secret at -l debug', async () => {
    const env = {
      CELERIAC_RESULT_BACKEND: `sqlite:///${dir}/results-1.db`,
      CELERIAC_BROKER_TRANSPORT_OPTIONS: JSON.stringify({ endpointUrl: emulator.endpoint, waitTimeSeconds: 1, queueNamePrefix: 'cli1-' }),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const broker = `sqs://AKIDCLI:${QUOTED}@`;
    const worker = await startWorker(['-A', APP, '-b', broker, 'worker', '-l', 'debug', '-c', '2'], env);
    workers.push(worker);
    const res = await runCli(['-A', APP, '-b', broker, 'call', 'tasks.add', '--args', '[2,2]', '--wait', '--timeout', '20'], env);
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe('4');
    expect(worker.logs()).toContain('sqs://AKIDCLI:**@');
    expect(worker.logs()).toMatch(/tasks\.add\[[0-9a-f-]+\] succeeded/);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expectNoSecret(worker.logs());
    expectNoSecret(res.stdout + res.stderr);
    expect(emulator.actions.some((a) => a.action === 'CreateQueue' && a.accessKeyId === 'AKIDCLI')).toBe(true);
  });

  it("takes the endpoint from the URL's host, as kombu does", async () => {
    const env = {
      CELERIAC_RESULT_BACKEND: `sqlite:///${dir}/results-2.db`,
      CELERIAC_BROKER_TRANSPORT_OPTIONS: JSON.stringify({ waitTimeSeconds: 1, queueNamePrefix: 'cli2-' }),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const broker = `sqs://AKIDCLI:${QUOTED}@127.0.0.1:${emulator.port}`;
    const worker = await startWorker(['-A', APP, '-b', broker, 'worker', '-l', 'debug'], env);
    workers.push(worker);
    const res = await runCli(['-A', APP, '-b', broker, 'call', 'tasks.add', '--args', '[40,2]', '--wait', '--timeout', '20'], env);
    expect(res.stdout.trim()).toBe('42');
    expect(worker.logs()).toContain(`sqs://AKIDCLI:**@127.0.0.1:${emulator.port}`);
    expectNoSecret(worker.logs() + res.stdout + res.stderr);
  });

  it('fails at startup naming a bad option, without the secret', async () => {
    const env = { CELERIAC_BROKER_TRANSPORT_OPTIONS: '{"waitTimeSeconds": 30}', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    const res = await runCli(['-A', APP, '-b', `sqs://AKIDCLI:${QUOTED}@`, 'worker'], env);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/broker_transport_options\.waitTimeSeconds/);
    expectNoSecret(res.stdout + res.stderr);
  });
});
