/**
 * VirtualBroker behaviour that needs a misbehaving store: reserve errors are reported and retried,
 * failed settles can be retried, cancel interrupts the backoff.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryChannel } from '../../src/brokers/memory/memory-channel.js';
import type { Broker, Delivery } from '../../src/brokers/types.js';
import type { ReservedMessage } from '../../src/brokers/virtual/channel.js';
import { VirtualBroker } from '../../src/brokers/virtual/virtual-broker.js';
import type { TransportMessage } from '../../src/protocol/types.js';
import { waitFor, within } from '../helpers/wait.js';
import { message } from '../conformance/broker-helpers.js';

class FlakyChannel extends MemoryChannel {
  reserveFailures = 0;
  ackFailures = 0;
  reserveCalls = 0;

  override async reserve(queues: string[], max: number, waitMs: number, signal: AbortSignal): Promise<ReservedMessage[]> {
    this.reserveCalls++;
    if (this.reserveFailures > 0) {
      this.reserveFailures--;
      throw new Error('SQLITE_BUSY: database is locked');
    }
    return super.reserve(queues, max, waitMs, signal);
  }

  override async ack(tag: string): Promise<void> {
    if (this.ackFailures > 0) {
      this.ackFailures--;
      throw new Error('store unavailable');
    }
    return super.ack(tag);
  }
}

const text = (body: string): TransportMessage => message(body, { contentType: 'text/plain' });

describe('VirtualBroker', () => {
  const brokers: Broker[] = [];
  const errors: { msg: string; obj?: Record<string, unknown> }[] = [];

  function make(channel: FlakyChannel, retryInitialMs = 5): VirtualBroker {
    const broker = new VirtualBroker({
      transport: 'flaky',
      url: 'flaky://user:secret@host',
      open: () => channel,
      retryInitialMs,
      retryMaxMs: 20,
      logger: { warn: () => undefined, error: (msg, obj) => errors.push({ msg, obj }) },
    });
    brokers.push(broker);
    return broker;
  }

  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.close()));
    errors.length = 0;
  });

  it('reports reserve errors, backs off and keeps consuming', async () => {
    const channel = new FlakyChannel({ name: randomUUID(), visibilityTimeout: 60 });
    channel.reserveFailures = 6;
    const broker = make(channel);
    const got: Delivery[] = [];
    await broker.consume(['q'], (d) => got.push(d), { prefetch: 1 });
    await broker.publish(text('after the storm'), { exchange: '', routingKey: 'q' });
    await waitFor(() => got.length === 1, 5000, 'delivery once the store recovers');
    expect(errors).toHaveLength(6);
    expect(errors[0]?.msg).toMatch(/reserving messages failed/);
    // Capped exponential backoff: 5, 10, 20, 20, …
    expect(errors.map((e) => e.obj?.retryInMs)).toEqual([5, 10, 20, 20, 20, 20]);
  });

  it('cancels promptly while backing off', async () => {
    const channel = new FlakyChannel({ name: randomUUID(), visibilityTimeout: 60 });
    channel.reserveFailures = 1_000_000;
    const broker = make(channel, 10_000);
    const sub = await broker.consume(['q'], () => undefined, { prefetch: 1 });
    await waitFor(() => errors.length === 1);
    await within(sub.cancel(), 500, 'cancel during backoff');
  });

  it('leaves a delivery unsettled when its ack fails, so the ack can be retried', async () => {
    const channel = new FlakyChannel({ name: randomUUID(), visibilityTimeout: 60 });
    const broker = make(channel);
    const got: Delivery[] = [];
    const sub = await broker.consume(['q'], (d) => got.push(d), { prefetch: 1 });
    await broker.publish(text('x'), { exchange: '', routingKey: 'q' });
    await waitFor(() => got.length === 1);
    channel.ackFailures = 1;
    await expect(got[0]?.ack()).rejects.toThrow(/unavailable/);
    expect(sub.inFlight).toBe(1);
    await got[0]?.ack();
    expect(sub.inFlight).toBe(0);
    expect(await broker.queueSize('q')).toBe(0);
  });

  it('redacts its URL and validates arguments', async () => {
    const broker = make(new FlakyChannel({ name: randomUUID(), visibilityTimeout: 60 }));
    expect(broker.url).toBe('flaky://user:**@host');
    await expect(broker.consume([], () => undefined, { prefetch: 1 })).rejects.toThrow(TypeError);
    await expect(broker.consume(['q'], () => undefined, { prefetch: 1.5 })).rejects.toThrow(RangeError);
    await expect(broker.publish(text('x'), { exchange: '', routingKey: '' })).rejects.toThrow(TypeError);
    await expect(
      broker.publish(text('x'), { exchange: '', routingKey: 'q' }, { deliverAt: new Date(Number.NaN) }),
    ).rejects.toThrow(TypeError);
  });
});
