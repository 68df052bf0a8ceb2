/**
 * rpc:// against the real RabbitMQ: the backend conformance suite (cases needing shared results,
 * groups or expiry are gated on its capabilities), plus what is particular to replies: results reach
 * the reply queue named in the request with correlation_id = task id, in Celery's rpc message shape.
 */
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { RpcResultBackend } from '../../src/backends/rpc/index.js';
import type { ResultMeta } from '../../src/backends/types.js';
import { CeleriacError, ConfigurationError } from '../../src/errors.js';
import { backendConformance } from '../conformance/backend.suite.js';
import { AMQP_URL } from '../helpers/amqp.js';
import { within } from '../helpers/wait.js';

const made: RpcResultBackend[] = [];
const connectionName = `celeriac-test-rpc-${randomUUID().slice(0, 8)}`;

function rpc(options: { resultExpires?: number | null } = {}): RpcResultBackend {
  const backend = new RpcResultBackend({ broker: { url: AMQP_URL, transportOptions: { connectionName } }, replyTo: `celeriac-test-${randomUUID()}`, ...options });
  made.push(backend);
  return backend;
}

afterAll(async () => {
  await Promise.all(made.map((b) => b.close()));
});

backendConformance('rpc', async (options) => {
  const backend = rpc(options);
  await backend.connect();
  return backend;
});

const success = (id: string, result: unknown): ResultMeta => ({
  status: 'SUCCESS',
  result,
  traceback: null,
  children: [],
  date_done: '2026-01-01T00:00:00.000000+00:00',
  task_id: id,
});

describe('rpc:// replies', () => {
  it('delivers a result to the reply queue named in the request, with correlation_id = task id', async () => {
    const [client, worker] = [rpc(), rpc()];
    await client.connect();
    const id = randomUUID();
    const waiting = client.waitForResult(id, { timeout: 10_000 });
    await worker.storeResult(success(id, { answer: 42 }), { replyTo: client.replyTo, correlationId: id });
    expect(await within(waiting, 5000, 'reply')).toMatchObject({ status: 'SUCCESS', result: { answer: 42 }, task_id: id });
    expect((await worker.getTaskMeta(id)).status).toBe('PENDING'); // only the sender sees it
  });

  it('publishes exactly Celery’s rpc message: default exchange, JSON body of five fields, transient', async () => {
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createChannel();
    const queue = `celeriac-test-reply-${randomUUID()}`;
    await ch.assertQueue(queue, { durable: false, autoDelete: true });
    try {
      const worker = rpc();
      const id = randomUUID();
      await worker.storeResult(success(id, 'ok'), { replyTo: queue, correlationId: id });
      const msg = await ch.get(queue, { noAck: true });
      expect(msg).not.toBe(false);
      if (!msg) return;
      expect(msg.fields.exchange).toBe('');
      expect(msg.fields.routingKey).toBe(queue);
      expect(msg.properties).toMatchObject({ correlationId: id, contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 1 });
      expect(msg.content.toString()).toBe(`{"task_id": "${id}", "status": "SUCCESS", "result": "ok", "traceback": null, "children": []}`);
    } finally {
      await ch.deleteQueue(queue);
      await conn.close();
    }
  });

  it('sends nothing for a request without reply_to, as Celery skips it', async () => {
    const worker = rpc();
    await expect(worker.storeResult(success(randomUUID(), 1), { replyTo: '', correlationId: 'x' })).resolves.toBeUndefined();
  });

  it('refuses groups and a non-AMQP broker with clear errors', async () => {
    const backend = rpc();
    await expect(backend.saveGroup()).rejects.toThrow(CeleriacError);
    expect(() => new RpcResultBackend({ broker: { url: 'redis://:secret@127.0.0.1:6379/0' }, replyTo: 'x' })).toThrow(ConfigurationError);
    try {
      new RpcResultBackend({ broker: { url: 'redis://:secret@127.0.0.1:6379/0' }, replyTo: 'x' });
    } catch (err) {
      expect((err as Error).message).not.toContain('secret');
    }
  });
});
