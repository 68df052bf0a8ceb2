/**
 * A subscription on its own channel: `basic.qos` sets the prefetch, one `basic.consume` per queue,
 * and deliveries settled with real `basic.ack` / `basic.nack`. On a new connection the subscription
 * opens a new channel and consumes again; deliveries from the dead channel are already back in their
 * queues (RabbitMQ requeues everything unacked on a closed channel), so settling them is a no-op.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Delivery, DeliveryInfo, Subscription } from '../types.js';
import type { TransportMessage } from '../../protocol/types.js';
import { checkPrefetch } from '../virtual/consumer.js';
import type { BrokerLogger } from '../virtual/options.js';
import { transportMessage } from './messages.js';
import { withoutDelayBits } from './topology.js';

/** What a delivery needs from the broker to dead-letter or delay a copy of itself. */
export interface DeliveryServices {
  logger?: BrokerLogger;
  /** Republish `message` to the dead-letter exchange, confirmed, recording `reason`. */
  deadLetter(message: TransportMessage, queue: string, info: DeliveryInfo, reason: string): Promise<boolean>;
  /** Republish `message` through the delayed-delivery exchanges back to `queue`, confirmed; absent without delayed delivery. */
  delay?(message: TransportMessage, queue: string, when: Date): Promise<void>;
}

export interface SubscriptionContext extends DeliveryServices {
  /** Channel-wide (global) QoS when configured and no queue is known to be a quorum queue; else per consumer. */
  globalQos(queues: string[]): boolean;
  onCancelled(sub: AmqpSubscription): void;
}

export class AmqpSubscription implements Subscription {
  private channel: Channel | null = null;
  private model: ChannelModel | null = null;
  private readonly consumerTags = new Map<string, string>();
  private readonly live = new Set<AmqpDelivery>();
  private active = true;
  private resubscribing: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: SubscriptionContext,
    readonly queues: string[],
    private readonly onMessage: (delivery: Delivery) => void,
    private prefetch: number,
  ) {}

  get inFlight(): number {
    return this.live.size;
  }

  get isActive(): boolean {
    return this.active;
  }

  /** Open a channel on `model` and consume every queue (first start and after each reconnect). */
  async start(model: ChannelModel): Promise<void> {
    // Deliveries of the old channel were requeued by the broker when it died; forget them.
    for (const d of this.live) d.orphan();
    this.live.clear();
    this.consumerTags.clear();
    this.model = model;
    if (!this.active) return;
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => this.ctx.logger?.warn('amqp: consumer channel error', { err: err.message, queues: this.queues }));
    ch.on('close', () => {
      if (this.channel !== ch) return;
      this.channel = null;
      if (this.active) this.restartLater(model);
    });
    this.channel = ch;
    await ch.prefetch(this.prefetch, this.ctx.globalQos(this.queues));
    for (const queue of this.queues) await this.consumeOne(ch, queue);
  }

  /**
   * The server closed our channel (a channel error) while the connection lives on: consume again on a
   * new channel. When the whole connection died, the reconnect starts us on the new one instead.
   */
  private restartLater(model: ChannelModel): void {
    setTimeout(() => {
      if (!this.active || this.channel || this.model !== model) return;
      this.start(model).catch((err: unknown) => this.ctx.logger?.warn('amqp: could not reopen a consumer channel', { err: (err as Error).message, queues: this.queues }));
    }, 100).unref();
  }

  setPrefetch(prefetch: number): void {
    this.prefetch = checkPrefetch(prefetch);
    const ch = this.channel;
    if (!ch || !this.active) return;
    const global = this.ctx.globalQos(this.queues);
    this.resubscribing = this.resubscribing.then(async () => {
      try {
        await ch.prefetch(this.prefetch, global);
        // A per-consumer limit binds only consumers started after it: consume again.
        if (!global) {
          for (const [tag, queue] of [...this.consumerTags]) {
            await ch.cancel(tag);
            this.consumerTags.delete(tag);
            await this.consumeOne(ch, queue);
          }
        }
      } catch (err) {
        this.ctx.logger?.error('amqp: could not change prefetch', { err: (err as Error).message, queues: this.queues });
      }
    });
  }

  async cancel(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    this.ctx.onCancelled(this);
    await this.resubscribing;
    const ch = this.channel;
    if (ch) {
      for (const tag of [...this.consumerTags.keys()]) await ch.cancel(tag).catch(() => undefined);
    }
    this.consumerTags.clear();
    if (this.live.size === 0) await this.closeChannel();
  }

  /** Close the channel: RabbitMQ returns whatever is still unacked to its queue. */
  async closeChannel(): Promise<void> {
    const ch = this.channel;
    this.channel = null;
    for (const d of this.live) d.orphan();
    this.live.clear();
    await ch?.close().catch(() => undefined);
  }

  settled(delivery: AmqpDelivery): void {
    this.live.delete(delivery);
    if (!this.active && this.live.size === 0) void this.closeChannel();
  }

  private async consumeOne(ch: Channel, queue: string): Promise<void> {
    const { consumerTag } = await ch.consume(queue, (msg) => this.receive(ch, queue, msg), { noAck: false });
    this.consumerTags.set(consumerTag, queue);
  }

  private receive(ch: Channel, queue: string, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled the consumer (queue deleted): say so, the rest keeps going.
      this.ctx.logger?.warn('amqp: consumer cancelled by the broker', { queue });
      return;
    }
    const delivery = new AmqpDelivery(msg, queue, ch, this, this.ctx);
    this.live.add(delivery);
    try {
      this.onMessage(delivery);
    } catch (err) {
      this.ctx.logger?.error('broker: message callback threw', { err, queue, deliveryTag: delivery.deliveryTag });
    }
  }
}

export class AmqpDelivery implements Delivery {
  readonly message: TransportMessage;
  readonly deliveryTag: string;
  readonly redelivered: boolean;
  readonly deliveryInfo: DeliveryInfo;
  readonly deferUntil?: (when: Date) => Promise<void>;
  private settling: Promise<void> | null = null;
  /** The channel it came on is gone: the broker has requeued it, so settling does nothing. */
  private orphaned = false;

  constructor(
    private readonly raw: ConsumeMessage,
    readonly queue: string,
    private readonly channel: Channel,
    private readonly owner: AmqpSubscription,
    private readonly services: DeliveryServices,
  ) {
    this.message = transportMessage(raw);
    this.deliveryTag = String(raw.fields.deliveryTag);
    this.redelivered = raw.fields.redelivered;
    this.deliveryInfo = {
      exchange: raw.fields.exchange,
      routing_key: withoutDelayBits(raw.fields.routingKey),
      priority: raw.properties.priority ?? 0,
      redelivered: raw.fields.redelivered,
    };
    const delay = services.delay;
    if (delay) {
      this.deferUntil = (when: Date) => {
        if (!(when instanceof Date) || Number.isNaN(when.getTime())) return Promise.reject(new TypeError('deferUntil needs a valid Date'));
        return this.settle(async () => {
          await delay(this.message, this.queue, when);
          this.channel.ack(this.raw);
        });
      };
    }
  }

  orphan(): void {
    this.orphaned = true;
  }

  ack(): Promise<void> {
    return this.settle(async () => this.channel.ack(this.raw));
  }

  reject(requeue: boolean, reason?: string): Promise<void> {
    if (requeue) return this.settle(async () => this.channel.nack(this.raw, false, true));
    return this.settle(async () => {
      const why = reason ?? 'rejected';
      const kept = await this.services.deadLetter(this.message, this.queue, this.deliveryInfo, why);
      if (kept) this.channel.ack(this.raw);
      else this.channel.reject(this.raw, false);
      this.services.logger?.warn(kept ? 'amqp: message dead-lettered' : 'amqp: message rejected', {
        queue: this.queue,
        reason: why,
        id: this.message.headers.id,
      });
    });
  }

  private settle(op: () => Promise<void>): Promise<void> {
    if (this.settling) return this.settling;
    const attempt = (async () => {
      if (this.orphaned) return;
      try {
        await op();
      } catch (err) {
        // A closed channel means the broker already requeued the message: nothing is lost.
        if (this.orphaned || isChannelClosed(err)) {
          this.owner.settled(this);
          return;
        }
        this.settling = null;
        throw err;
      }
      this.owner.settled(this);
    })();
    this.settling = attempt;
    return attempt;
  }
}

function isChannelClosed(err: unknown): boolean {
  const e = err as { name?: string; message?: string } | null;
  return e?.name === 'IllegalOperationError' || /channel (is )?closed|connection closed/i.test(e?.message ?? '');
}
