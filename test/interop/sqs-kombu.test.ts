/**
 * SQS interop with Python Celery 5.2.6 / kombu 5.2.4 (Debian).
 *
 * A full Python worker or client cannot talk to the fauxqs emulator: Debian's botocore 1.29 speaks
 * SQS's query protocol (form-encoded `Action=…`, XML replies), kombu 5.2.4's async consumer builds the
 * same query requests itself, and fauxqs 1.9.2 answers only the JSON protocol the current AWS SDKs
 * use. The last test pins that down, so this file fails (and should then gain a real round trip) the
 * day either side changes. What can be checked without that is checked here with kombu's own code:
 * a message celeriac sent through SQS decodes with kombu's SQS `_message_to_python`; the other way,
 * kombu-written bodies, is in test/brokers/sqs-behaviour.test.ts.
 */
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import { runProcess } from '../helpers/cli.js';
import { interopTitle, PYTHON, PYTHON_DIR, pythonCeleryStatus, requirePythonCelery, uniqueName } from '../helpers/python.js';
import { startSqsEmulator, type SqsEmulator } from '../helpers/sqs-emulator.js';

const status = pythonCeleryStatus();
let emulator: SqsEmulator;

beforeAll(async () => {
  emulator = await startSqsEmulator();
});
afterAll(async () => {
  await emulator?.stop();
});

async function python(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>> {
  const res = await runProcess(PYTHON, ['sqs_kombu.py', ...args], { cwd: PYTHON_DIR, env: { ...process.env, ...env }, timeoutMs: 30_000 });
  if (res.code !== 0) throw new Error(`sqs_kombu.py ${args[0]} failed: ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
}

describe.skipIf(status.skip)(interopTitle('SQS bodies between celeriac and kombu 5.2.4', status), () => {
  beforeAll(() => requirePythonCelery(status));

  it.each([true, false])('kombu decodes what celeriac sent (sqsBase64Encoding %s)', async (base64) => {
    const queue = `${uniqueName('interop')}.fifo`;
    const app = new Celery('sqs-interop', {
      broker: 'sqs://k:s@',
      resultBackend: null,
      brokerTransportOptions: { endpointUrl: emulator.endpoint, sqsBase64Encoding: base64 },
      logLevel: 'silent',
    }, { env: {} });
    try {
      const sent = await app.sendTask('proj.tasks.add', [2, 3], { z: 1 }, { queue, messageGroupId: 'g1' });
      const url = emulator.actions.find((a) => a.action === 'SendMessage' && a.queueUrl?.endsWith(`/${queue}`))?.queueUrl;
      const raw = new SQSClient({ region: 'us-east-1', endpoint: emulator.endpoint, credentials: { accessKeyId: 'k', secretAccessKey: 's' } });
      const out = await raw.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1 }));
      raw.destroy();
      const m = out.Messages?.[0];
      expect(m).toBeDefined();
      expect(/^[A-Za-z0-9+/]+=*$/.test(m?.Body ?? '')).toBe(base64);
      const decoded = await python(['read', JSON.stringify({ Body: m?.Body, ReceiptHandle: m?.ReceiptHandle, MessageId: m?.MessageId })]);
      expect(decoded).toEqual({
        task: 'proj.tasks.add',
        id: sent.id,
        args: [2, 3],
        kwargs: { z: 1 },
        delivery_tag_is_receipt: true,
        delivery_info: { exchange: '', routing_key: queue },
        MessageGroupId: 'g1',
      });
    } finally {
      await app.close();
    }
  });

  it("cannot run Python Celery itself on the emulator: Debian's botocore speaks the query protocol, fauxqs only JSON", async () => {
    const res = await python(['protocol'], { ENDPOINT: emulator.endpoint });
    expect(res.protocol).toBe('query');
    expect(String(res.outcome)).toMatch(/InvalidAction|Unknown action/);
  });
});
