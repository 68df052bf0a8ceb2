/**
 * The broker conformance suite: every transport runs these same tests (memory, SQLite, later Redis,
 * AMQP, SQS). Each test uses its own queue and exchange names, so one broker URL serves a whole file.
 * Waits poll for conditions with deadlines; "nothing more arrives" is checked over a bounded window.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, Delivery } from '../../src/brokers/types.js';
import { holdsFor, waitFor, within } from '../helpers/wait.js';
import { brokerDeliveryConformance } from './broker-delivery.suite.js';
import { collect, message, type BrokerConformanceOptions, type MakeBroker, type SuiteContext } from './broker-helpers.js';

export type { BrokerConformanceOptions, MakeBroker } from './broker-helpers.js';

export function brokerConformance(name: string, makeBroker: MakeBroker, options: BrokerConformanceOptions = {}): void {
  const open: Broker[] = [];
  const logs = { warn: [] as string[], error: [] as string[] };
  const ctx: SuiteContext = {
    make: async (transportOptions, logger) => {
      const broker = await makeBroker(transportOptions, logger ?? ctx.logger);
      open.push(broker);
      return broker;
    },
    options,
    uid: (prefix) => `${prefix}-${randomUUID().slice(0, 8)}`,
    logs,
    logger: { warn: (msg) => logs.warn.push(msg), error: (msg) => logs.error.push(msg) },
  };

  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
    logs.warn.length = 0;
    logs.error.length = 0;
  });

  describe(`broker conformance: ${name}`, () => {
    it('round-trips body bytes, content type and encoding, headers and properties', async () => {
      const broker = await ctx.make();
      const q = ctx.uid('q');
      const body = Buffer.concat([Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]), Buffer.from('héllo ☃', 'utf8')]);
      const sent = message(body, {
        contentType: 'application/x-custom',
        contentEncoding: 'binary',
        headers: { lang: 'py', task: 'tasks.add', id: 'abc', nested: { a: [1, 2, { b: null }] }, text: 'ünï ☃' },
        properties: { correlation_id: 'abc', reply_to: 'reply-q', delivery_mode: 2 },
      });
      await broker.publish(sent, { exchange: '', routingKey: q });
      const c = await collect(broker, [q], 1);
      await waitFor(() => c.got.length === 1, 5000, 'delivery');
      const d = c.got[0] as Delivery;
      expect(Buffer.compare(d.message.body, body)).toBe(0);
      expect(d.message.contentType).toBe('application/x-custom');
      expect(d.message.contentEncoding).toBe('binary');
      expect(d.message.headers).toEqual(sent.headers);
      expect(d.message.properties).toMatchObject(sent.properties);
      expect(d.queue).toBe(q);
      expect(d.redelivered).toBe(false);
      expect(typeof d.deliveryTag).toBe('string');
      expect(d.deliveryInfo).toEqual({ exchange: '', routing_key: q, priority: 0, redelivered: false });
      await d.ack();
    });

    it('does not let the publisher mutate what was stored', async () => {
      const broker = await ctx.make();
      const q = ctx.uid('q');
      const sent = message('original', { headers: { a: 1 } });
      await broker.publish(sent, { exchange: '', routingKey: q });
      sent.body.write('XXXXXXXX');
      sent.headers.a = 2;
      const c = await collect(broker, [q], 1, true);
      await waitFor(() => c.got.length === 1);
      expect(c.bodies()).toEqual(['original']);
      expect(c.got[0]?.message.headers.a).toBe(1);
    });

    it('serves messages of one priority in FIFO order', async () => {
      const broker = await ctx.make();
      const q = ctx.uid('q');
      const bodies = Array.from({ length: 20 }, (_, i) => `m${i}`);
      for (const b of bodies) await broker.publish(message(b), { exchange: '', routingKey: q });
      const c = await collect(broker, [q], 1, true);
      await waitFor(() => c.got.length === 20, 5000, '20 deliveries');
      expect(c.bodies()).toEqual(bodies);
    });

    it('publishes a batch in order with publishMany, routing each message', async ({ skip }) => {
      const broker = await ctx.make();
      if (!broker.publishMany) skip();
      const [q, other, ex] = [ctx.uid('q'), ctx.uid('q'), ctx.uid('ex')];
      await broker.declareQueue({ name: other, exchange: ex, routingKey: other });
      const bodies = Array.from({ length: 50 }, (_, i) => `m${i}`);
      await broker.publishMany?.([
        ...bodies.map((b) => ({ message: message(b), target: { exchange: '', routingKey: q } })),
        { message: message('routed'), target: { exchange: ex, routingKey: other }, options: { priority: 9 } },
      ]);
      const c = await collect(broker, [q], 0, true);
      await waitFor(() => c.got.length === 50, 5000, '50 deliveries');
      expect(c.bodies()).toEqual(bodies);
      const r = await collect(broker, [other], 1, true);
      await waitFor(() => r.got.length === 1);
      expect(r.got[0]?.deliveryInfo).toMatchObject({ exchange: ex, routing_key: other, priority: 9 });
    });

    it('serves priorities in the broker’s order (lower numbers first, or higher first on RabbitMQ) and clamps them to 0..9', async ({ skip }) => {
      const broker = await ctx.make();
      if (broker.capabilities.priorities === false) skip();
      const q = ctx.uid('q');
      // Priorities from distinct kombu steps (0, 3, 6, 9): Redis orders by step, not by exact number.
      for (const p of [9, 6, 0, 3, 42, -1]) {
        await broker.publish(message(`p${p}`), { exchange: '', routingKey: q }, { priority: p });
      }
      const c = await collect(broker, [q], 1, true);
      await waitFor(() => c.got.length === 6);
      if (broker.capabilities.priorityOrder === 'higher-first') {
        // RabbitMQ: the highest number first; equal (clamped) priorities keep FIFO order.
        expect(c.bodies()).toEqual(['p9', 'p42', 'p6', 'p3', 'p0', 'p-1']);
        expect(c.got.map((d) => d.deliveryInfo.priority)).toEqual([9, 9, 6, 3, 0, 0]);
        return;
      }
      expect(c.bodies()).toEqual(['p0', 'p-1', 'p3', 'p6', 'p9', 'p42']);
      expect(c.got.map((d) => d.deliveryInfo.priority)).toEqual([0, 0, 3, 6, 9, 9]);
    });

    it('honours the prefetch limit and fetches the next message when one settles', async () => {
      const broker = await ctx.make();
      const q = ctx.uid('q');
      for (let i = 0; i < 10; i++) await broker.publish(message(`m${i}`), { exchange: '', routingKey: q });
      const c = await collect(broker, [q], 3);
      await waitFor(() => c.got.length === 3);
      expect(c.sub.inFlight).toBe(3);
      expect(await broker.queueSize(q)).toBe(7);
      await holdsFor(() => c.got.length === 3, 150, 'no delivery beyond prefetch');
      await c.got[0]?.ack();
      await waitFor(() => c.got.length === 4, 5000, 'next delivery after ack');
      expect(c.sub.inFlight).toBe(3);
      expect(await broker.queueSize(q)).toBe(6);
    });

    it('treats prefetch 0 as unlimited', async () => {
      const broker = await ctx.make();
      const q = ctx.uid('q');
      for (let i = 0; i < 150; i++) await broker.publish(message(`m${i}`), { exchange: '', routingKey: q });
      const c = await collect(broker, [q], 0);
      await waitFor(() => c.got.length === 150, 10_000, '150 unacked deliveries');
      expect(c.sub.inFlight).toBe(150);
      expect(await broker.queueSize(q)).toBe(0);
    });

    it('applies setPrefetch at runtime', async () => {
      const broker = await ctx.make();
      const q = ctx.uid('q');
      for (let i = 0; i < 5; i++) await broker.publish(message(`m${i}`), { exchange: '', routingKey: q });
      const c = await collect(broker, [q], 1);
      await waitFor(() => c.got.length === 1);
      c.sub.setPrefetch(3);
      await waitFor(() => c.got.length === 3, 5000, 'deliveries up to the new prefetch');
      expect(await broker.queueSize(q)).toBe(2);
      expect(() => c.sub.setPrefetch(-1)).toThrow(RangeError);
    });

    it('purges ready messages and counts them with queueSize', async () => {
      const broker = await ctx.make();
      const q = ctx.uid('q');
      for (let i = 0; i < 5; i++) await broker.publish(message(`m${i}`), { exchange: '', routingKey: q });
      expect(await broker.queueSize(q)).toBe(5);
      expect(await broker.queueSize(ctx.uid('empty'))).toBe(0);
      expect(await broker.purge(q)).toBe(5);
      expect(await broker.queueSize(q)).toBe(0);
      expect(await broker.purge(q)).toBe(0);
    });

    it('routes through a named direct exchange by bindings and drops unroutable messages with a warning', async () => {
      const broker = await ctx.make();
      const [ex, qa, qb, qc] = [ctx.uid('ex'), ctx.uid('qa'), ctx.uid('qb'), ctx.uid('qc')];
      await broker.declareQueue({ name: qa, exchange: ex, routingKey: 'ka' });
      await broker.declareQueue({ name: qb, exchange: ex, routingKey: 'kb' });
      await broker.declareQueue({ name: qc, exchange: ex, routingKey: 'ka' });
      await broker.declareQueue({ name: qc }); // default binding: exchange and routing key = queue name
      await broker.publish(message('to-a'), { exchange: ex, routingKey: 'ka' });
      await broker.publish(message('to-b'), { exchange: ex, routingKey: 'kb' });
      await broker.publish(message('by-name'), { exchange: qc, routingKey: qc });
      await broker.publish(message('lost'), { exchange: ex, routingKey: 'nobody' });
      expect(await broker.queueSize(qa)).toBe(1);
      expect(await broker.queueSize(qb)).toBe(1);
      expect(await broker.queueSize(qc)).toBe(2);
      expect(ctx.logs.warn.some((w) => /matched no queue/.test(w))).toBe(true);
      const c = await collect(broker, [qb], 1, true);
      await waitFor(() => c.got.length === 1);
      expect(c.got[0]?.deliveryInfo).toMatchObject({ exchange: ex, routing_key: 'kb' });
    });

    it('rotates between queues so one cannot starve another', async ({ skip }) => {
      const broker = await ctx.make();
      if (!broker.capabilities.roundRobinQueues) skip();
      const [qa, qb] = [ctx.uid('qa'), ctx.uid('qb')];
      for (let i = 0; i < 4; i++) {
        await broker.publish(message(`a${i}`), { exchange: '', routingKey: qa });
        await broker.publish(message(`b${i}`), { exchange: '', routingKey: qb });
      }
      const c = await collect(broker, [qa, qb], 1, true);
      await waitFor(() => c.got.length === 8);
      expect(c.got.map((d) => d.queue)).toEqual([qa, qb, qa, qb, qa, qb, qa, qb]);
    });

    it('lets two broker instances on the same URL see each other’s messages', async () => {
      const [b1, b2] = [await ctx.make(), await ctx.make()];
      const q = ctx.uid('q');
      await b1.publish(message('hello'), { exchange: '', routingKey: q });
      expect(await b2.queueSize(q)).toBe(1);
      const c = await collect(b2, [q], 1, true);
      await waitFor(() => c.got.length === 1);
      expect(c.bodies()).toEqual(['hello']);
    });

    it('stops promptly on cancel, keeping what was delivered with the caller', async () => {
      const broker = await ctx.make();
      const q = ctx.uid('q');
      await broker.publish(message('first'), { exchange: '', routingKey: q });
      const c = await collect(broker, [q], 5);
      await waitFor(() => c.got.length === 1);
      await within(c.sub.cancel(), 1000, 'cancel');
      await broker.publish(message('after-cancel'), { exchange: '', routingKey: q });
      await holdsFor(() => c.got.length === 1, 200, 'no delivery after cancel');
      expect(await broker.queueSize(q)).toBe(1);
      expect(c.sub.inFlight).toBe(1);
      await c.got[0]?.ack();
      expect(c.sub.inFlight).toBe(0);
    });

    it('reports a throwing callback and keeps consuming', async () => {
      const broker = await ctx.make();
      const q = ctx.uid('q');
      const seen: string[] = [];
      await broker.consume(
        [q],
        (d) => {
          seen.push(d.message.body.toString());
          void d.ack();
          if (seen.length === 1) throw new Error('handler bug');
        },
        { prefetch: 1 },
      );
      await broker.publish(message('one'), { exchange: '', routingKey: q });
      await broker.publish(message('two'), { exchange: '', routingKey: q });
      await waitFor(() => seen.length === 2);
      expect(ctx.logs.error.some((e) => /callback threw/.test(e))).toBe(true);
    });

    it('refuses operations after close', async () => {
      const broker = await ctx.make();
      await broker.close();
      await expect(broker.publish(message('x'), { exchange: '', routingKey: 'q' })).rejects.toThrow(/closed/);
      await broker.close(); // idempotent
    });
  });

  brokerDeliveryConformance(name, ctx);
}
