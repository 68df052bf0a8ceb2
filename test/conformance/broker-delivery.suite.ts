/**
 * Second half of the broker conformance suite: settling deliveries (ack, reject, defer), visibility
 * timeout, delayed delivery, fanout and shutdown restore. Called from `brokerConformance`.
 */
import { describe, expect, it } from 'vitest';
import type { Broker, Delivery } from '../../src/brokers/types.js';
import type { TransportMessage } from '../../src/protocol/types.js';
import { holdsFor, waitFor } from '../helpers/wait.js';
import { collect, message, type SuiteContext } from './broker-helpers.js';

type WithDeadLetters = Broker & { deadLetterCount?(queue: string): Promise<number> };

export function brokerDeliveryConformance(name: string, ctx: SuiteContext): void {
  const visibility = (seconds: number): Record<string, unknown> =>
    ctx.options.visibilityOptions?.(seconds) ?? { visibilityTimeout: seconds };

  describe(`broker conformance: ${name}: deliveries`, () => {
    it('removes a message on ack; a second settle is a no-op', async () => {
      const broker = await ctx.make();
      const q = ctx.uid('q');
      await broker.publish(message('once'), { exchange: '', routingKey: q });
      const c = await collect(broker, [q], 2);
      await waitFor(() => c.got.length === 1);
      const d = c.got[0] as Delivery;
      await Promise.all([d.ack(), d.ack()]);
      await d.reject(true);
      expect(c.sub.inFlight).toBe(0);
      expect(await broker.queueSize(q)).toBe(0);
      await holdsFor(() => c.got.length === 1, 200, 'no redelivery after ack');
      await broker.close();
      const other = await ctx.make();
      expect(await other.queueSize(q)).toBe(0);
    });

    it('redelivers a message rejected with requeue, marked redelivered', async () => {
      const broker = await ctx.make();
      const q = ctx.uid('q');
      await broker.publish(message('again', { headers: { id: 't1' } }), { exchange: '', routingKey: q });
      const c = await collect(broker, [q], 1);
      await waitFor(() => c.got.length === 1);
      await c.got[0]?.reject(true);
      await waitFor(() => c.got.length === 2, 5000, 'redelivery');
      const d = c.got[1] as Delivery;
      expect(d.redelivered).toBe(true);
      expect(d.deliveryInfo.redelivered).toBe(true);
      expect(d.message.headers).toMatchObject({ id: 't1', redelivered: true });
      expect(d.message.body.toString()).toBe('again');
      expect(d.deliveryTag).not.toBe(c.got[0]?.deliveryTag);
      await d.ack();
    });

    it('drops a message rejected without requeue, dead-lettering it where supported', async () => {
      const broker = (await ctx.make()) as WithDeadLetters;
      const q = ctx.uid('q');
      await broker.publish(message('bad'), { exchange: '', routingKey: q });
      const c = await collect(broker, [q], 1);
      await waitFor(() => c.got.length === 1);
      await c.got[0]?.reject(false, 'cannot decode');
      expect(c.sub.inFlight).toBe(0);
      expect(await broker.queueSize(q)).toBe(0);
      await holdsFor(() => c.got.length === 1, 200, 'no redelivery after reject(false)');
      if (broker.capabilities.deadLetter && broker.deadLetterCount) {
        expect(await broker.deadLetterCount(q)).toBe(1);
      }
    });

    it('returns an unacked message after the visibility timeout', async ({ skip }) => {
      const broker = await ctx.make(visibility(0.3));
      if (!broker.capabilities.visibilityTimeout) skip();
      const q = ctx.uid('q');
      await broker.publish(message('lost?'), { exchange: '', routingKey: q });
      const c = await collect(broker, [q], 2);
      await waitFor(() => c.got.length === 1);
      await waitFor(() => c.got.length === 2, 5000, 'redelivery after the visibility timeout');
      expect(c.at[1]! - c.at[0]!).toBeGreaterThanOrEqual(150); // not redelivered straight away
      expect(c.got[1]?.redelivered).toBe(true);
      await c.got[1]?.ack();
      await c.got[0]?.ack(); // stale reservation: must not throw or resurrect anything
      expect(await broker.queueSize(q)).toBe(0);
      await holdsFor(() => c.got.length === 2, 600, 'no further redelivery after ack');
    });

    it('keeps a message invisible while its visibility is extended', async ({ skip }) => {
      const broker = await ctx.make(visibility(0.3));
      if (!broker.capabilities.visibilityTimeout) skip();
      const q = ctx.uid('q');
      await broker.publish(message('long task'), { exchange: '', routingKey: q });
      const got: Delivery[] = [];
      // Extend from inside the callback, as a worker's heartbeat would, well before the 0.3 s lapse.
      await broker.consume(
        [q],
        (d) => {
          got.push(d);
          void d.extendVisibility?.(5);
        },
        { prefetch: 2 },
      );
      await waitFor(() => got.length === 1);
      await holdsFor(() => got.length === 1, 900, 'no redelivery while extended');
      await got[0]?.ack();
      expect(await broker.queueSize(q)).toBe(0);
    });

    it('holds a message published with deliverAt until that time', async ({ skip }) => {
      const broker = await ctx.make();
      if (!broker.capabilities.delayedDelivery) skip();
      const q = ctx.uid('q');
      const deliverAt = new Date(Date.now() + 400);
      await broker.publish(message('later'), { exchange: '', routingKey: q }, { deliverAt });
      await broker.publish(message('now'), { exchange: '', routingKey: q });
      expect(await broker.queueSize(q)).toBe(1);
      const c = await collect(broker, [q], 0, true);
      await waitFor(() => c.got.length === 2, 5000, 'the delayed message');
      expect(c.bodies()).toEqual(['now', 'later']);
      expect(c.at[1]!).toBeGreaterThanOrEqual(deliverAt.getTime());
    });

    it('defers a delivery with deferUntil without holding a prefetch slot', async ({ skip }) => {
      const broker = await ctx.make();
      const q = ctx.uid('q');
      await broker.publish(message('eta'), { exchange: '', routingKey: q });
      const c = await collect(broker, [q], 1);
      await waitFor(() => c.got.length === 1);
      if (!c.got[0]?.deferUntil) skip();
      const when = new Date(Date.now() + 300);
      await c.got[0]?.deferUntil?.(when);
      expect(c.sub.inFlight).toBe(0);
      expect(await broker.queueSize(q)).toBe(0);
      await waitFor(() => c.got.length === 2, 5000, 'the deferred message');
      expect(c.at[1]!).toBeGreaterThanOrEqual(when.getTime());
      expect(c.got[1]?.message.body.toString()).toBe('eta');
      await c.got[1]?.ack();
    });

    it('returns unsettled deliveries to their queue on close', async () => {
      const b1 = await ctx.make();
      const q = ctx.uid('q');
      for (const b of ['x', 'y', 'z']) await b1.publish(message(b), { exchange: '', routingKey: q });
      const c1 = await collect(b1, [q], 0);
      await waitFor(() => c1.got.length === 3);
      await c1.got[0]?.ack();
      await b1.close();
      const b2 = await ctx.make();
      expect(await b2.queueSize(q)).toBe(2);
      const c2 = await collect(b2, [q], 0, true);
      await waitFor(() => c2.got.length === 2);
      expect(c2.bodies().sort()).toEqual(['y', 'z']);
      expect(c2.got.every((d) => d.redelivered)).toBe(true);
      await c1.got[1]?.ack(); // settled by close: a no-op, not an error
    });

    it('fans out to every current subscriber, and not after cancel', async ({ skip }) => {
      const [b1, b2] = [await ctx.make(), await ctx.make()];
      if (b1.capabilities.fanout === false) skip();
      const [ex, other] = [ctx.uid('ex'), ctx.uid('ex')];
      const seen = { s1: [] as string[], s2: [] as string[], s3: [] as string[], late: [] as string[] };
      const record = (list: string[]) => (m: TransportMessage, rk: string) => list.push(`${rk}:${m.body.toString()}`);
      const s1 = await b1.subscribeFanout(ex, record(seen.s1));
      const s2 = await b2.subscribeFanout(ex, record(seen.s2));
      const s3 = await b1.subscribeFanout(other, record(seen.s3));
      await b1.publishFanout(ex, 'worker.heartbeat', message('one', { headers: { hostname: 'w1' } }));
      await waitFor(() => seen.s1.length === 1 && seen.s2.length === 1, 5000, 'fanout to both subscribers');
      expect(seen.s1).toEqual(['worker.heartbeat:one']);
      expect(seen.s2).toEqual(['worker.heartbeat:one']);
      const late = await b2.subscribeFanout(ex, record(seen.late));
      await s2.cancel();
      await b2.publishFanout(ex, 'rk', message('two'));
      await waitFor(() => seen.s1.length === 2 && seen.late.length === 1, 5000, 'second fanout');
      await holdsFor(() => seen.s2.length === 1 && seen.s3.length === 0, 300, 'cancelled and unrelated subscribers get nothing');
      expect(seen.late).toEqual(['rk:two']);
      await Promise.all([s1.cancel(), s3.cancel(), late.cancel()]);
    });
  });
}
