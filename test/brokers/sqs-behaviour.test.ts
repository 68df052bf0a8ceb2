/**
 * SQS-specific behaviour against the fauxqs emulator through the real AWS SDK: long polling,
 * predefined queues (no list/create/delete, per-queue credentials), FIFO attributes, the calls used
 * for ack/requeue/defer, the 12 h visibility cap, kombu-written bodies and malformed messages.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateQueueCommand, GetQueueUrlCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import { createBroker } from '../../src/brokers/index.js';
import type { Broker, Delivery } from '../../src/brokers/types.js';
import { decodeTaskMessage } from '../../src/protocol/message.js';
import { collect, message } from '../conformance/broker-helpers.js';
import { ROOT } from '../helpers/cli.js';
import { uniqueName } from '../helpers/python.js';
import { startSqsEmulator, type SqsEmulator } from '../helpers/sqs-emulator.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

let emulator: SqsEmulator;
let raw: SQSClient;
const open: { close(): Promise<void> }[] = [];
const logs: string[] = [];
const logger = { warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };

beforeAll(async () => {
  emulator = await startSqsEmulator();
  raw = new SQSClient({ region: 'us-east-1', endpoint: emulator.endpoint, credentials: { accessKeyId: 'RAW', secretAccessKey: 'raw' } });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
  logs.length = 0;
});
afterAll(async () => {
  raw?.destroy();
  await emulator?.stop();
});

async function sqsBroker(options: Record<string, unknown> = {}, url = 'sqs://URLKEY:url%2Fsecret@'): Promise<Broker> {
  const broker = createBroker(url, { endpointUrl: emulator.endpoint, waitTimeSeconds: 1, ...options }, logger);
  open.push(broker);
  await broker.connect();
  return broker;
}

/** Actions from index `from` of the emulator's log on (take `emulator.actions.length` first). */
function actionsSince(from: number) {
  return emulator.actions.slice(from);
}

/** The URL of a queue the broker created. */
async function queueUrl(name: string): Promise<string> {
  return (await raw.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl as string;
}

async function createQueue(name: string, attributes: Record<string, string> = {}): Promise<string> {
  const out = await raw.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  return out.QueueUrl as string;
}

describe('SQS broker on the emulator', () => {
  it('long-polls an idle queue: few receives, and a new message arrives at once', async () => {
    const broker = await sqsBroker({ waitTimeSeconds: 5 });
    const q = uniqueName('idle');
    await broker.declareQueue({ name: q });
    const c = await collect(broker, [q], 1, true);
    const idleFrom = emulator.actions.length;
    await holdsFor(() => c.got.length === 0, 1500, 'nothing to receive');
    // One 5 s long poll covers the whole idle window; busy polling would show dozens of receives.
    expect(actionsSince(idleFrom).filter((a) => a.action === 'ReceiveMessage').length).toBeLessThanOrEqual(1);
    const sentAt = Date.now();
    await broker.publish(message('wake'), { exchange: '', routingKey: q });
    await waitFor(() => c.got.length === 1, 2000, 'prompt delivery');
    expect(c.at[0]! - sentAt).toBeLessThan(500);
    const receive = actionsSince(idleFrom).find((a) => a.action === 'ReceiveMessage');
    expect(receive?.visibilityTimeout).toBe(1800); // the configured timeout is sent with every receive
  });

  it('acks with DeleteMessage and requeues with ChangeMessageVisibility 0, as kombu', async () => {
    const broker = await sqsBroker();
    const q = uniqueName('settle');
    await broker.publish(message('a'), { exchange: '', routingKey: q });
    const c = await collect(broker, [q], 1);
    await waitFor(() => c.got.length === 1);
    const start = emulator.actions.length;
    await c.got[0]?.reject(true);
    await waitFor(() => c.got.length === 2);
    expect(actionsSince(start).find((a) => a.action === 'ChangeMessageVisibility')?.visibilityTimeout).toBe(0);
    expect(c.got[1]?.redelivered).toBe(true);
    await c.got[1]?.ack();
    expect(actionsSince(start).some((a) => a.action === 'DeleteMessage')).toBe(true);
    expect(await broker.queueSize(q)).toBe(0);
  });

  it('defers within the 12 h SQS allows; a longer ETA is capped and deferred again later', async () => {
    const broker = await sqsBroker();
    const q = uniqueName('eta');
    await broker.publish(message('far'), { exchange: '', routingKey: q });
    const c = await collect(broker, [q], 1);
    await waitFor(() => c.got.length === 1);
    const start = emulator.actions.length;
    await c.got[0]?.deferUntil?.(new Date(Date.now() + 13 * 3600 * 1000));
    const change = actionsSince(start).find((a) => a.action === 'ChangeMessageVisibility');
    expect(change?.visibilityTimeout).toBeLessThanOrEqual(43200);
    expect(change?.visibilityTimeout).toBeGreaterThanOrEqual(43190);
    expect(c.sub.inFlight).toBe(0);
  });

  it('uses predefined queues without listing, creating or deleting, with their own raw credentials', async () => {
    const name = uniqueName('predef');
    const url = await createQueue(name);
    const start = emulator.actions.length;
    const broker = await sqsBroker({
      predefinedQueues: { [name]: { url, accessKeyId: 'QUEUEKEY', secretAccessKey: 'raw/secret+unquoted' } },
    });
    await broker.declareQueue({ name });
    await broker.publish(message('p1'), { exchange: '', routingKey: name });
    expect(await broker.queueSize(name)).toBe(1);
    const c = await collect(broker, [name], 1);
    await waitFor(() => c.got.length === 1);
    await c.got[0]?.ack();
    expect(await broker.purge(name)).toBe(0);
    const seen = actionsSince(start);
    for (const forbidden of ['CreateQueue', 'ListQueues', 'GetQueueUrl', 'DeleteQueue']) {
      expect(seen.some((a) => a.action === forbidden), forbidden).toBe(false);
    }
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.every((a) => a.accessKeyId === 'QUEUEKEY')).toBe(true);
    await expect(broker.publish(message('x'), { exchange: '', routingKey: 'not-defined' })).rejects.toThrow(/must be defined in broker_transport_options.predefinedQueues/);
  });

  it('passes MessageGroupId and MessageDeduplicationId from applyAsync to a FIFO queue, keeping .fifo', async () => {
    const queue = `${uniqueName('jobs')}.fifo`;
    const app = new Celery('fifo', {
      broker: 'sqs://k:s@',
      resultBackend: null,
      brokerTransportOptions: { endpointUrl: emulator.endpoint, waitTimeSeconds: 1 },
      logLevel: 'silent',
    }, { env: {} });
    open.push(app);
    const job = app.task('tasks.job', (n: number) => n);
    await job.applyAsync([1], undefined, { queue, messageGroupId: 'customer-7', messageDeduplicationId: 'order-1' });
    await job.applyAsync([2], undefined, { queue, messageGroupId: 'customer-7', messageDeduplicationId: 'order-1' }); // a duplicate
    await job.applyAsync([3], undefined, { queue });
    const url = emulator.actions.find((a) => a.action === 'SendMessage' && a.queueUrl?.endsWith(`/${queue}`))?.queueUrl as string;
    expect(url).toBeDefined();
    const out = await raw.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId'] }),
    );
    const got = (out.Messages ?? []).map((m) => m.Attributes);
    expect(got).toHaveLength(2);
    expect(got[0]).toMatchObject({ MessageGroupId: 'customer-7', MessageDeduplicationId: 'order-1' });
    expect(got[1]?.MessageGroupId).toBe('default');
  });

  it.each(['task_body.json', 'task_body_sqs_base64_encoding_false.json'])('consumes a body written by kombu 5.2.4 (%s)', async (file) => {
    const fixture = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/celery-wire/sqs/5.2.6', file), 'utf8')) as { raw: string };
    const broker = await sqsBroker();
    const q = uniqueName('kombu');
    await broker.declareQueue({ name: q });
    const url = await queueUrl(q);
    await raw.send(new SendMessageCommand({ QueueUrl: url, MessageBody: fixture.raw }));
    const c = await collect(broker, [q], 1, true);
    await waitFor(() => c.got.length === 1);
    const d = c.got[0] as Delivery;
    const task = decodeTaskMessage(d.message);
    expect(task.headers.task).toBe('proj.tasks.add');
    expect(task.args).toEqual([2, 3]);
    expect(d.deliveryInfo).toMatchObject({ exchange: '', routing_key: 'celery', redelivered: false });
  });

  it('drops a malformed body with a logged reason and keeps consuming', async () => {
    const broker = await sqsBroker();
    const q = uniqueName('bad');
    await broker.declareQueue({ name: q });
    const url = await queueUrl(q);
    await raw.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'not json at all' }));
    await broker.publish(message('good'), { exchange: '', routingKey: q });
    const c = await collect(broker, [q], 1, true);
    await waitFor(() => c.got.length === 1);
    expect(c.bodies()).toEqual(['good']);
    expect(logs.some((l) => /malformed/.test(l))).toBe(true);
    await waitFor(async () => (await broker.queueSize(q)) === 0);
  });

  it('has no fanout: publishing says so, subscribing stays silent with a warning', async () => {
    const broker = await sqsBroker();
    await expect(broker.publishFanout('celery.pidbox', '', message('x'))).rejects.toThrow(/no fanout/);
    const sub = await broker.subscribeFanout('celery.pidbox', () => undefined);
    expect(logs.some((l) => /no fanout/.test(l))).toBe(true);
    await sub.cancel();
  });
});
