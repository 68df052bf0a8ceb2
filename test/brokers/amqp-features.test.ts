/**
 * What is particular to RabbitMQ, against the real server: kombu's URLs and vhosts, Celery's
 * entities, priorities (x-max-priority), quorum queues, message TTL from `expires`, dead-lettering of
 * rejected and malformed messages, Celery's native delayed delivery, publisher confirms, basic.qos
 * prefetch seen by the server, fanout, and queues that already exist with other arguments.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import { parseAmqpUrls, readAmqpOptions, delayedRoutingKey, type AmqpBroker } from '../../src/brokers/amqp/index.js';
import { createBroker } from '../../src/brokers/index.js';
import type { Delivery } from '../../src/brokers/types.js';
import { BrokerConnectionError, ConfigurationError } from '../../src/errors.js';
import { buildTaskMessage } from '../../src/protocol/message.js';
import { collect, message } from '../conformance/broker-helpers.js';
import { AMQP_URL, AmqpTestBrokers } from '../helpers/amqp.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

const brokers = new AmqpTestBrokers();
const uid = (p: string): string => `${p}-${brokers.runId}-${Math.random().toString(16).slice(2, 8)}`;
let raw: amqp.ChannelModel;
const logs: string[] = [];
const logger = { warn: (m: string, o?: object) => logs.push(`${m} ${JSON.stringify(o ?? {})}`), error: (m: string, o?: object) => logs.push(`${m} ${JSON.stringify(o ?? {})}`) };

beforeAll(async () => {
  raw = await amqp.connect(AMQP_URL);
});
afterAll(async () => {
  await raw.close();
  await brokers.cleanup();
});

/** Whether declaring `name` with exactly these settings is accepted, i.e. it exists with them. */
async function equivalent(declare: (ch: amqp.Channel) => Promise<unknown>): Promise<boolean> {
  const ch = await raw.createChannel();
  ch.on('error', () => undefined);
  try {
    await declare(ch);
    return true;
  } catch {
    return false;
  } finally {
    await ch.close().catch(() => undefined);
  }
}

describe('amqp: URLs and options', () => {
  it('reads the vhost as kombu does and defaults to guest/guest', () => {
    const vhost = (url: string) => parseAmqpUrls(url)[0]?.vhost;
    expect(vhost('amqp://guest:guest@127.0.0.1:5672//')).toBe('/');
    expect(vhost('amqp://h/%2F')).toBe('/');
    expect(vhost('amqp://h/')).toBe('/');
    expect(vhost('amqp://h')).toBe('/');
    expect(vhost('amqp://h/prod')).toBe('prod');
    expect(vhost('amqp://h/a%2Fb')).toBe('a/b');
    expect(parseAmqpUrls('amqp://h')[0]).toMatchObject({ username: 'guest', password: 'guest', port: 5672 });
    expect(parseAmqpUrls('amqps://u:p%2Fq@h')[0]).toMatchObject({ protocol: 'amqps', port: 5671, password: 'p/q' });
    expect(parseAmqpUrls('amqp://a;amqp://b:5673').map((e) => `${e.hostname}:${e.port}`)).toEqual(['a:5672', 'b:5673']);
  });

  it('accepts pyamqp:// as an alias and never shows the password', () => {
    const broker = createBroker('pyamqp://user:s3cret-pw@127.0.0.1:5672//');
    expect(broker.transport).toBe('amqp');
    expect(broker.url).toBe('pyamqp://user:**@127.0.0.1:5672//');
  });

  it('rejects bad options at startup, naming them', () => {
    expect(() => readAmqpOptions(AMQP_URL, { queueType: 'stream' })).toThrow(/queueType/);
    expect(() => readAmqpOptions(AMQP_URL, { queueMaxPriority: 300 })).toThrow(ConfigurationError);
    expect(() => readAmqpOptions(AMQP_URL, { queues: { video: { maxPriority: 0 } } })).toThrow(/queues\.video\.maxPriority/);
    expect(() => createBroker('amqp://h:99999/')).toThrow(ConfigurationError);
  });

  it('reports a refused login without the password', async () => {
    const broker = createBroker('amqp://guest:wrong-s3cret@127.0.0.1:5672//', { connectTimeout: 2 });
    const error = (await broker.connect().catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(BrokerConnectionError);
    expect(error.message).not.toContain('wrong-s3cret');
    await broker.close();
  });
});

describe('amqp: entities and queues', () => {
  it('declares a task queue as Celery does: direct durable exchange, durable queue, binding, no arguments', async () => {
    const broker = await brokers.make();
    const q = uid('tasks');
    await broker.declareQueue({ name: q, exchange: q, routingKey: q });
    expect(await equivalent((ch) => ch.assertExchange(q, 'direct', { durable: true, autoDelete: false }))).toBe(true);
    expect(await equivalent((ch) => ch.assertQueue(q, { durable: true, autoDelete: false, arguments: {} }))).toBe(true);
    await broker.publish(message('via exchange'), { exchange: q, routingKey: q });
    expect(await broker.queueSize(q)).toBe(1);
  });

  it('serves the highest priority first on an x-max-priority queue', async () => {
    const broker = await brokers.make();
    const q = uid('prio');
    await broker.declareQueue({ name: q, maxPriority: 10 });
    expect(await equivalent((ch) => ch.assertQueue(q, { durable: true, arguments: { 'x-max-priority': 10 } }))).toBe(true);
    for (const p of [1, 5, 9, 5]) await broker.publish(message(`p${p}`), { exchange: '', routingKey: q }, { priority: p });
    const c = await collect(broker, [q], 1, true);
    await waitFor(() => c.got.length === 4);
    expect(c.bodies()).toEqual(['p9', 'p5', 'p5', 'p1']);
  });

  it('declares quorum queues when asked and limits prefetch per consumer on them', async () => {
    const q = uid('quorum');
    const broker = await brokers.make({ queues: { [q]: { queueType: 'quorum' } } });
    await broker.declareQueue({ name: q });
    expect(await equivalent((ch) => ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } }))).toBe(true);
    for (let i = 0; i < 5; i++) await broker.publish(message(`m${i}`), { exchange: '', routingKey: q });
    const c = await collect(broker, [q], 2);
    await waitFor(() => c.got.length === 2);
    await holdsFor(() => c.got.length === 2, 200, 'no delivery beyond prefetch');
    await c.got[0]?.ack();
    await waitFor(() => c.got.length === 3);
    c.sub.setPrefetch(5);
    await waitFor(() => c.got.length === 5, 5000, 'more after raising the prefetch');
  });

  it('consumes a quorum queue declared by someone else (as Python would) within its prefetch', async () => {
    const q = uid('foreign-quorum');
    await equivalent((ch) => ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } }));
    brokers.track('queue', q);
    logs.length = 0;
    const broker = await brokers.make({}, logger);
    for (let i = 0; i < 5; i++) await broker.publish(message(`m${i}`), { exchange: '', routingKey: q });
    const c = await collect(broker, [q], 2);
    await waitFor(() => c.got.length === 2);
    await holdsFor(() => c.got.length === 2, 300, 'no delivery beyond prefetch');
    // RabbitMQ refused channel-wide QoS on it (closing the connection); the broker learnt and recovered.
    expect(logs.some((l) => l.includes('is a quorum queue') && l.includes(q))).toBe(true);
  });

  it('drops a task whose expires passed: the message TTL comes from `expires`', async () => {
    const broker = await brokers.make();
    const q = uid('ttl');
    const task = buildTaskMessage({ taskName: 't', id: 'ttl-1', expires: new Date(Date.now() + 200) });
    expect(Number(task.properties.expiration)).toBeLessThanOrEqual(200);
    await broker.publish(task, { exchange: '', routingKey: q });
    await broker.publish(message('keeps'), { exchange: '', routingKey: q });
    await waitFor(async () => (await broker.queueSize(q)) === 1, 5000, 'the expired message gone');
    const c = await collect(broker, [q], 5, true);
    await waitFor(() => c.got.length === 1);
    expect(c.bodies()).toEqual(['keeps']);
  });

  it('uses a queue that already exists with other arguments, with a warning', async () => {
    const q = uid('foreign');
    await equivalent((ch) => ch.assertQueue(q, { durable: true, arguments: { 'x-max-priority': 7 } }));
    const broker = await brokers.make({}, logger);
    await broker.declareQueue({ name: q });
    expect(logs.some((l) => l.includes('queue exists with other arguments') && l.includes(q))).toBe(true);
    await broker.publish(message('x'), { exchange: '', routingKey: q });
    expect(await broker.queueSize(q)).toBe(1);
  });
});

describe('amqp: delivery', () => {
  it('dead-letters a rejected message to <queue>.dead-letter through the DLX, with the reason', async () => {
    const broker = await brokers.make();
    const q = uid('dlx');
    await broker.publish(message('bad', { headers: { id: 'd1' } }), { exchange: '', routingKey: q });
    const c = await collect(broker, [q], 1);
    await waitFor(() => c.got.length === 1);
    await c.got[0]?.reject(false, 'cannot decode');
    expect(await broker.deadLetterCount(q)).toBe(1);
    const ch = await raw.createChannel();
    const dead = await ch.get(`${q}.dead-letter`, { noAck: true });
    await ch.close();
    expect(dead && dead.content.toString()).toBe('bad');
    expect(dead && dead.properties.headers).toMatchObject({ id: 'd1', 'x-dead-letter-reason': 'cannot decode', 'x-original-queue': q });
  });

  it('dead-letters a malformed message a worker cannot decode, and the worker keeps going', async () => {
    const q = uid('malformed');
    const app = new Celery('dlx', { broker: AMQP_URL, backend: null, logLevel: 'silent', brokerTransportOptions: { connectionName: brokers.connectionName } }, { env: {} });
    app.task('ok', () => 'fine');
    brokers.track('queue', q);
    brokers.track('queue', `${q}.dead-letter`);
    brokers.track('exchange', q);
    const worker = app.worker({ queues: [q], concurrency: 1 });
    await worker.start();
    try {
      const broker = (await app.connectBroker()) as AmqpBroker;
      await broker.publish(message('{not json', { headers: { task: 'ok', id: 'm1' } }), { exchange: '', routingKey: q });
      await broker.publish(message('[[], {}, {}]', { headers: { lang: 'py', task: 'ok', id: 'good-1' } }), { exchange: '', routingKey: q });
      await waitFor(() => worker.stats.rejected === 1 && worker.stats.succeeded === 1, 10_000, 'one rejected, one run');
      await waitFor(async () => (await broker.deadLetterCount(q)) === 1, 5000, 'the malformed message in the dead-letter queue');
    } finally {
      await worker.close();
      await app.close();
    }
  });

  it('delays an ETA message in Celery’s delayed-delivery queues, not in memory, then delivers it', async () => {
    expect(delayedRoutingKey(5, 'celery')).toBe('0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.1.celery'); // kombu's calculate_routing_key
    const broker = await brokers.make();
    expect(broker.capabilities.delayedDelivery).toBe(true);
    const q = uid('eta');
    const deliverAt = new Date(Date.now() + 2000);
    await broker.publish(message('later'), { exchange: '', routingKey: q }, { deliverAt });
    expect(await broker.queueSize(q)).toBe(0);
    expect(await equivalent((ch) => ch.checkExchange('celery_delayed_27'))).toBe(true);
    const c = await collect(broker, [q], 1, true);
    await waitFor(() => c.got.length === 1, 10_000, 'the delayed message');
    expect(c.at[0]!).toBeGreaterThanOrEqual(deliverAt.getTime());
    expect(c.got[0]?.deliveryInfo.routing_key).toBe(q); // the countdown bits are not shown
  });

  it('confirms publishes: a failed one rejects and the next one still goes through', async () => {
    const broker = await brokers.make();
    const q = uid('confirm');
    await expect(broker.publish(message('lost'), { exchange: uid('no-such-exchange'), routingKey: 'x' })).rejects.toThrow();
    await broker.publish(message('kept'), { exchange: '', routingKey: q });
    // Confirmed means stored: another connection sees it at once.
    const ch = await raw.createChannel();
    expect((await ch.checkQueue(q)).messageCount).toBe(1);
    await ch.close();
  });

  it('sets the prefetch with basic.qos on the server, and changes it at runtime', async () => {
    const name = `${brokers.connectionName}-qos`;
    const broker = await brokers.make({ connectionName: name });
    const q = uid('qos');
    const c = await collect(broker, [q], 8);
    const qos = async (connection = name): Promise<string[]> => {
      const run = promisify(execFile);
      const conns = (await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties'], { timeout: 30_000 })).stdout;
      const pid = conns.split('\n').find((l) => l.includes(`"${connection}"`))?.split('\t')[0];
      const chans = (await run('rabbitmqctl', ['-q', 'list_channels', 'connection', 'global_prefetch_count', 'prefetch_count'], { timeout: 30_000 })).stdout;
      return chans.split('\n').filter((l) => pid && l.startsWith(pid)).map((l) => l.split('\t').slice(1).join('/'));
    };
    expect(await qos()).toContain('8/0'); // channel-wide (global) limit, as Celery sets it on classic queues
    c.sub.setPrefetch(12);
    await waitFor(async () => (await qos()).includes('12/0'), 15_000, 'new prefetch on the server');
    // Per-consumer QoS when asked (and on quorum queues).
    const perConsumer = await brokers.make({ connectionName: `${name}-2`, globalQos: false });
    await collect(perConsumer, [uid('qos')], 3);
    await waitFor(async () => (await qos(`${name}-2`)).includes('0/3'), 15_000, 'per-consumer prefetch on the server');
  }, 40_000);

  it('declares fanout exchanges as kombu’s pidbox does (fanout, not durable)', async () => {
    const broker = await brokers.make();
    const ex = uid('fanout');
    const seen: string[] = [];
    const sub = await broker.subscribeFanout(ex, (m) => seen.push(m.body.toString()));
    expect(await equivalent((ch) => ch.assertExchange(ex, 'fanout', { durable: false }))).toBe(true);
    await broker.publishFanout(ex, '', message('hello'));
    await waitFor(() => seen.length === 1);
    await sub.cancel();
    expect(seen).toEqual(['hello']);
  });

  it('settling a delivery after close is a no-op, and close returns it to the queue', async () => {
    const broker = await brokers.make();
    const q = uid('close');
    await broker.publish(message('x'), { exchange: '', routingKey: q });
    const c = await collect(broker, [q], 1);
    await waitFor(() => c.got.length === 1);
    await broker.close();
    await (c.got[0] as Delivery).ack();
    const other = await brokers.make();
    expect(await other.queueSize(q)).toBe(1);
  });
});
