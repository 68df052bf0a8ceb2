/**
 * Fanout exchanges over Redis PUB/SUB, as kombu does them (celery-reference §2.5): PUBLISH on
 * `/{db}.<exchange>[/<routing key>]`, PSUBSCRIBE on the exchange's patterns. Nothing is stored, so a
 * message published while no one listens is gone, as with kombu. One subscriber connection per
 * broker carries every subscription; ioredis re-subscribes it after a reconnect.
 */
import type { Redis } from 'ioredis';
import { decodeEnvelope, encodeEnvelope } from '../../protocol/envelope.js';
import type { TransportMessage } from '../../protocol/types.js';
import type { BrokerLogger } from '../virtual/options.js';
import type { RedisLayout } from './layout.js';

type Listener = (message: TransportMessage, routingKey: string) => void;

export class RedisFanout {
  private subscriber: Redis | null = null;
  /** Listeners by subscribed pattern. */
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(
    private readonly publisher: Redis,
    private readonly openSubscriber: () => Redis,
    private readonly layout: RedisLayout,
    private readonly logger?: BrokerLogger,
  ) {}

  async publish(exchange: string, routingKey: string, message: TransportMessage): Promise<void> {
    const payload = encodeEnvelope(message, { exchange, routingKey });
    await this.publisher.publish(this.layout.fanoutChannel(exchange, routingKey), payload);
  }

  async subscribe(exchange: string, listener: Listener): Promise<() => Promise<void>> {
    const subscriber = this.connection();
    const patterns = this.layout.fanoutPatterns(exchange);
    const fresh: string[] = [];
    for (const pattern of patterns) {
      let set = this.listeners.get(pattern);
      if (!set) {
        this.listeners.set(pattern, (set = new Set()));
        fresh.push(pattern);
      }
      set.add(listener);
    }
    if (fresh.length > 0) await subscriber.psubscribe(...fresh);
    return async () => {
      const gone: string[] = [];
      for (const pattern of patterns) {
        const set = this.listeners.get(pattern);
        if (!set?.delete(listener) || set.size > 0) continue;
        this.listeners.delete(pattern);
        gone.push(pattern);
      }
      if (gone.length > 0 && this.subscriber?.status === 'ready') await this.subscriber.punsubscribe(...gone);
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    const subscriber = this.subscriber;
    this.subscriber = null;
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
  }

  private connection(): Redis {
    if (this.subscriber) return this.subscriber;
    const subscriber = this.openSubscriber();
    subscriber.on('pmessageBuffer', (pattern: Buffer, channel: Buffer, payload: Buffer) =>
      this.deliver(pattern.toString(), channel.toString(), payload),
    );
    this.subscriber = subscriber;
    return subscriber;
  }

  private deliver(pattern: string, channel: string, payload: Buffer): void {
    const set = this.listeners.get(pattern);
    if (!set || set.size === 0) return;
    const route = this.layout.parseFanoutChannel(channel);
    let message: TransportMessage;
    try {
      message = decodeEnvelope(payload);
    } catch (err) {
      this.logger?.warn('broker: ignored a malformed fanout message', { err, channel });
      return;
    }
    for (const listener of [...set]) {
      try {
        listener(message, route?.routingKey ?? '');
      } catch (err) {
        this.logger?.error('broker: fanout listener threw', { err, channel });
      }
    }
  }
}
