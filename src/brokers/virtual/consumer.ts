/**
 * The consume loop and delivery objects shared by every virtual transport (kombu's virtual `QoS` and
 * `Channel.basic_consume` in one place): client-side prefetch, fetch-next-on-complete, round-robin
 * queue rotation, and error reporting with a capped backoff so a flaky store never kills the loop.
 */
import type { Delivery, DeliveryInfo, Subscription } from '../types.js';
import type { TransportMessage } from '../../protocol/types.js';
import type { ChannelOps, ReservedMessage } from './channel.js';
import type { BrokerLogger } from './options.js';

export interface ConsumerSettings {
  /** How long one `reserve` call may block waiting for messages, ms. */
  reserveWaitMs: number;
  /** How many messages one `reserve` may take when prefetch is 0 (unlimited). */
  unlimitedBatch: number;
  /** Backoff after a failed `reserve`: first delay and cap, ms. */
  retryInitialMs: number;
  retryMaxMs: number;
}

export interface ConsumerContext extends ConsumerSettings {
  channel: ChannelOps;
  logger?: BrokerLogger;
  /** Broker-wide set of deliveries not yet settled, so `close()` can return them to their queues. */
  unsettled: Set<VirtualDelivery>;
  onCancelled(consumer: Consumer): void;
}

export function checkPrefetch(prefetch: number): number {
  if (!Number.isInteger(prefetch) || prefetch < 0) {
    throw new RangeError(`prefetch must be an integer >= 0 (0 = unlimited), got ${prefetch}`);
  }
  return prefetch;
}

export class Consumer implements Subscription {
  private inFlightCount = 0;
  private active = true;
  private paused = false;
  /** Set once pausing is used; until then a reserve needs no abort controller of its own. */
  private pausable = false;
  private readonly abort = new AbortController();
  /** Aborts the reserve under way when the consumer is paused (or cancelled). */
  private reserving: AbortController | null = null;
  private wakeUp: (() => void) | null = null;
  /** Acks of this tick, and the promise they share (see `ack`). */
  private acksDue: VirtualDelivery[] = [];
  private acksSettle: Deferred | null = null;
  /** Current round-robin cycle of the subscribed queues. */
  private readonly order: string[];
  /** False for kombu's `sorted` and `priority` queue order strategies: the order stays fixed. */
  private readonly rotates: boolean;
  private readonly loop: Promise<void>;

  constructor(
    private readonly ctx: ConsumerContext,
    queues: string[],
    private readonly onMessage: (delivery: Delivery) => void,
    private prefetch: number,
  ) {
    const strategy = ctx.channel.queueOrder ?? 'round_robin';
    this.order = strategy === 'sorted' ? [...queues].sort() : [...queues];
    this.rotates = strategy === 'round_robin';
    this.loop = this.run().catch((err: unknown) => {
      // Only a bug gets here (reserve errors are retried inside); never let it pass silently.
      this.active = false;
      this.ctx.onCancelled(this);
      this.ctx.logger?.error('broker: consumer loop stopped unexpectedly', { err, queues: this.order });
    });
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  setPrefetch(prefetch: number): void {
    this.prefetch = checkPrefetch(prefetch);
    this.wake();
  }

  setPaused(paused: boolean): void {
    this.pausable = true;
    if (this.paused === paused) return;
    this.paused = paused;
    if (paused) this.reserving?.abort();
    else this.wake();
  }

  async cancel(): Promise<void> {
    if (this.active) {
      this.active = false;
      this.abort.abort();
      this.wake();
      this.ctx.onCancelled(this);
    }
    await this.loop;
  }

  /**
   * Ack a delivery together with the others acked in the same tick: one store call and one promise
   * for the lot, instead of a promise chain per message. Resolves once the store has them all.
   */
  ack(delivery: VirtualDelivery): Promise<void> {
    this.acksDue.push(delivery);
    if (!this.acksSettle) {
      this.acksSettle = deferred();
      queueMicrotask(this.flushAcks);
    }
    return this.acksSettle.promise;
  }

  private readonly flushAcks = (): void => {
    const deliveries = this.acksDue;
    const settle = this.acksSettle!;
    this.acksDue = [];
    this.acksSettle = null;
    const channel = this.ctx.channel;
    const tags = deliveries.map((d) => d.deliveryTag);
    let sent: Promise<unknown>;
    try {
      sent = channel.ackMany ? channel.ackMany(tags) : Promise.all(tags.map((tag) => channel.ack(tag)));
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      () => {
        for (const delivery of deliveries) this.settled(delivery);
        settle.resolve();
      },
      (err: unknown) => {
        // Not settled after all: callers may ack again, and close() still returns the messages.
        for (const delivery of deliveries) delivery.unsettle();
        settle.reject(err);
      },
    );
  };

  /** Called by a delivery once its ack/reject/defer has reached the store. */
  settled(delivery: VirtualDelivery): void {
    this.inFlightCount--;
    this.ctx.unsettled.delete(delivery);
    this.wake();
  }

  private wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = null;
    wake?.();
  }

  /**
   * How many messages the next reserve may take, or 0 when it is not worth asking yet. A reserve
   * takes at most a quarter of the prefetch, so several are in hand at once and the store fills one
   * while the tasks of another run; with work in hand it waits until a quarter is free rather than
   * fetching one by one.
   */
  private nextBatchSize(): number {
    if (!this.active || this.paused) return 0;
    if (this.prefetch === 0) return this.ctx.unlimitedBatch;
    const capacity = this.prefetch - this.inFlightCount;
    const quarter = Math.ceil(this.prefetch / 4);
    if (capacity <= 0 || (this.inFlightCount > 0 && capacity < quarter)) return 0;
    return Math.min(capacity, quarter);
  }

  /** One reserve call; a pausable consumer's can be abandoned by `setPaused(true)`. */
  private reserveBatch(max: number): Promise<ReservedMessage[]> {
    let signal = this.abort.signal;
    if (this.pausable) {
      this.reserving = new AbortController();
      signal = AbortSignal.any([signal, this.reserving.signal]);
    }
    try {
      return this.ctx.channel.reserve([...this.order], max, this.ctx.reserveWaitMs, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    /** The reserve under way: sent before the previous batch is handed out (pipelining). */
    let next: Promise<ReservedMessage[]> | null = null;
    while (this.active) {
      if (!next) {
        const size = this.nextBatchSize();
        if (size === 0) {
          // Fetch-next-on-complete: sleep until a delivery settles (or prefetch grows), no timer.
          await new Promise<void>((resolve) => (this.wakeUp = resolve));
          continue;
        }
        next = this.reserveBatch(size);
      }
      let batch: ReservedMessage[];
      try {
        batch = await next;
        next = null;
        this.reserving = null;
        failures = 0;
      } catch (err) {
        next = null;
        const pausedMidReserve = this.reserving?.signal.aborted === true;
        this.reserving = null;
        if (!this.active) break;
        // A reserve abandoned because the worker paused intake is not a failure.
        if (pausedMidReserve) continue;
        const retryInMs = Math.min(this.ctx.retryMaxMs, this.ctx.retryInitialMs * 2 ** failures);
        failures++;
        this.ctx.logger?.error('broker: reserving messages failed; retrying', {
          err,
          queues: this.order,
          attempt: failures,
          retryInMs,
        });
        await sleep(retryInMs, this.abort.signal);
        continue;
      }
      if (!this.active) {
        // Cancelled while this batch was on its way: it was never shown to the caller.
        await this.giveBack(batch);
        break;
      }
      // The batch counts as in flight before the next reserve is sized; that reserve goes out now,
      // so the store works on it while this batch's tasks run. A single message (an idle consumer
      // woken for it) is handed out first instead: its latency is what counts then.
      this.inFlightCount += batch.length;
      const reserveFirst = batch.length > 1;
      if (reserveFirst) {
        const size = this.nextBatchSize();
        if (size > 0) next = this.reserveBatch(size);
      }
      for (let i = 0; i < batch.length; i++) {
        if (!this.active) {
          // Cancelled while this batch was in hand: its rest was never shown to the caller.
          this.inFlightCount -= batch.length - i;
          await this.giveBack(batch.slice(i));
          break;
        }
        const reserved = batch[i] as ReservedMessage;
        this.rotate(reserved.queue);
        this.dispatch(reserved);
      }
      if (!reserveFirst && !next) {
        const size = this.nextBatchSize();
        // One microtask later, behind what handing out the message queued (a task that ran at once
        // queued its result write): a lone message's result goes out first and the next blocking
        // pop right behind it, rather than the pop first or tens of µs later.
        if (size > 0) next = Promise.resolve(size).then((n) => (this.active && !this.paused ? this.reserveBatch(n) : []));
      }
    }
    if (next) await this.giveBack(await next.catch(() => []));
  }

  /** kombu's `_rotate_cycle`: the queue just served goes to the end, so busy queues cannot starve others. */
  private rotate(queue: string): void {
    if (!this.rotates) return;
    const at = this.order.indexOf(queue);
    if (at === -1 || this.order.length < 2) return;
    this.order.splice(at, 1);
    this.order.push(queue);
  }

  private dispatch(reserved: ReservedMessage): void {
    const delivery = new VirtualDelivery(reserved, this.ctx.channel, this);
    this.ctx.unsettled.add(delivery);
    try {
      this.onMessage(delivery);
    } catch (err) {
      // The delivery stays unsettled: visibility timeout or close() brings it back.
      this.ctx.logger?.error('broker: message callback threw', { err, queue: reserved.queue, deliveryTag: reserved.tag });
    }
  }

  private async giveBack(rest: ReservedMessage[]): Promise<void> {
    for (const reserved of rest) {
      try {
        await this.ctx.channel.requeue(reserved.tag);
      } catch (err) {
        this.ctx.logger?.error('broker: could not return a reserved message on cancel', { err, deliveryTag: reserved.tag });
      }
    }
  }
}

export class VirtualDelivery implements Delivery {
  readonly message: TransportMessage;
  readonly queue: string;
  readonly deliveryTag: string;
  readonly redelivered: boolean;
  readonly deliveryInfo: DeliveryInfo;
  /** The first settle's promise; later settles return it instead of touching the store again. */
  private settling: Promise<void> | null = null;

  constructor(
    reserved: ReservedMessage,
    private readonly channel: ChannelOps,
    private readonly owner: Consumer,
  ) {
    this.message = reserved.message;
    this.queue = reserved.queue;
    this.deliveryTag = reserved.tag;
    this.redelivered = reserved.redelivered;
    this.deliveryInfo = {
      exchange: reserved.exchange,
      routing_key: reserved.routingKey,
      priority: reserved.priority,
      redelivered: reserved.redelivered,
    };
  }

  ack(): Promise<void> {
    if (this.settling) return this.settling;
    return (this.settling = this.owner.ack(this));
  }

  /** The consumer's batched ack failed: this delivery may be settled again. */
  unsettle(): void {
    this.settling = null;
  }

  reject(requeue: boolean, reason?: string): Promise<void> {
    return this.settle(() =>
      requeue ? this.channel.requeue(this.deliveryTag) : this.channel.deadLetter(this.deliveryTag, reason ?? 'rejected'),
    );
  }

  deferUntil(when: Date): Promise<void> {
    if (!(when instanceof Date) || Number.isNaN(when.getTime())) {
      return Promise.reject(new TypeError('deferUntil needs a valid Date'));
    }
    return this.settle(() => this.channel.defer(this.deliveryTag, when));
  }

  async retryAfterFailure(): Promise<boolean> {
    if (this.settling) return false;
    const seconds = this.channel.failureRetryDelay?.(this.deliveryTag) ?? null;
    if (seconds === null) return false;
    await this.deferUntil(new Date(Date.now() + seconds * 1000));
    return true;
  }

  async extendVisibility(seconds: number): Promise<void> {
    if (!Number.isFinite(seconds) || seconds <= 0) throw new RangeError(`extendVisibility needs seconds > 0, got ${seconds}`);
    if (this.settling) return; // settled or settling: nothing left to extend
    await this.channel.extend(this.deliveryTag, seconds);
  }

  private settle(op: () => Promise<void>): Promise<void> {
    if (this.settling) return this.settling;
    let started: Promise<void>;
    try {
      started = op();
    } catch (err) {
      started = Promise.reject(err);
    }
    const attempt = started.then(
      () => this.owner.settled(this),
      (err: unknown) => {
        // Not settled after all: the caller may retry, and close() will still return the message.
        this.settling = null;
        throw err;
      },
    );
    this.settling = attempt;
    return attempt;
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Callers that wait see the rejection; one who does not wait (an early ack) must not crash the
  // process with an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Resolve after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
