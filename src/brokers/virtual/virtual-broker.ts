/**
 * `VirtualBroker`: the whole `Broker` built once on a `ChannelOps` store, after kombu's virtual
 * transport. Routing through bindings, priority clamping, prefetch, rotation, delivery objects and
 * shutdown restore live here, so memory, SQLite and later Redis only implement storage.
 */
import { BrokerConnectionError } from '../../errors.js';
import type { TransportMessage } from '../../protocol/types.js';
import { redactUrl } from '../../utils/url.js';
import type {
  Broker,
  BrokerCapabilities,
  ConsumeOptions,
  Delivery,
  FanoutSubscription,
  PublishOptions,
  PublishTarget,
  QueueDeclaration,
  Subscription,
} from '../types.js';
import type { ChannelOps, StoredMessageMeta } from './channel.js';
import { checkPrefetch, Consumer, type ConsumerSettings, type VirtualDelivery } from './consumer.js';
import type { BrokerLogger } from './options.js';
import { OpenOnce } from '../../utils/open-once.js';

export interface VirtualBrokerOptions extends Partial<ConsumerSettings> {
  /** Transport name, e.g. `sqlite`. */
  transport: string;
  /** Broker URL; redacted before it is stored. */
  url: string;
  /** Opens the store; called once, on `connect()` or the first operation. */
  open: () => ChannelOps | Promise<ChannelOps>;
  /** Receives dropped-message warnings and consumer errors. */
  logger?: BrokerLogger;
  capabilities?: Partial<BrokerCapabilities>;
  /** The store's visibility timeout in seconds, exposed so workers can renew leases in time. */
  visibilityTimeout?: number;
}

const DEFAULTS: ConsumerSettings = {
  reserveWaitMs: 10_000,
  unlimitedBatch: 100,
  retryInitialMs: 100,
  retryMaxMs: 5_000,
};

/** Clamp to kombu's 0..9; non-numbers become 0. */
export function clampPriority(priority: unknown): number {
  if (typeof priority !== 'number' || !Number.isFinite(priority)) return 0;
  return Math.min(9, Math.max(0, Math.round(priority)));
}

/** Validate a publish; returns its `deliverAt` (null for now). */
export function checkPublish(target: PublishTarget, options: PublishOptions | undefined): Date | null {
  const deliverAt = options?.deliverAt ?? null;
  if (deliverAt !== null && (!(deliverAt instanceof Date) || Number.isNaN(deliverAt.getTime()))) {
    throw new TypeError('publish: deliverAt must be a valid Date or null');
  }
  if (target.exchange === '' && !target.routingKey) {
    throw new TypeError('publish: the default exchange needs a routing key naming the queue');
  }
  return deliverAt;
}

function metaOf(message: TransportMessage, target: PublishTarget, options: PublishOptions | undefined): StoredMessageMeta {
  return { exchange: target.exchange, routingKey: target.routingKey, priority: clampPriority(options?.priority ?? message.properties.priority) };
}

export class VirtualBroker implements Broker {
  readonly transport: string;
  readonly url: string;
  readonly capabilities: BrokerCapabilities;
  readonly visibilityTimeout: number | undefined;
  private readonly settings: ConsumerSettings;
  private readonly logger: BrokerLogger | undefined;
  private readonly channel: OpenOnce<ChannelOps>;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly declared = new Set<string>();
  private readonly consumers = new Set<Consumer>();
  private readonly fanouts = new Set<() => Promise<void>>();
  private readonly unsettled = new Set<VirtualDelivery>();

  constructor(private readonly options: VirtualBrokerOptions) {
    this.channel = new OpenOnce(() => this.options.open());
    this.transport = options.transport;
    this.url = redactUrl(options.url);
    this.logger = options.logger;
    this.visibilityTimeout = options.visibilityTimeout;
    this.capabilities = { delayedDelivery: true, visibilityTimeout: true, deadLetter: true, priorityOrder: 'lower-first', roundRobinQueues: true, ...options.capabilities };
    this.settings = {
      reserveWaitMs: options.reserveWaitMs ?? DEFAULTS.reserveWaitMs,
      unlimitedBatch: options.unlimitedBatch ?? DEFAULTS.unlimitedBatch,
      retryInitialMs: options.retryInitialMs ?? DEFAULTS.retryInitialMs,
      retryMaxMs: options.retryMaxMs ?? DEFAULTS.retryMaxMs,
    };
  }

  /** Queues declared through this broker instance. */
  get declaredQueues(): ReadonlySet<string> {
    return this.declared;
  }

  async connect(): Promise<void> {
    await this.ch();
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  async declareQueue(queue: QueueDeclaration): Promise<void> {
    if (!queue.name) throw new TypeError('declareQueue needs a queue name');
    const ch = await this.ch();
    const exchange = queue.exchange ?? queue.name;
    const routingKey = queue.routingKey ?? queue.name;
    if (queue.exchangeType === 'topic' && /[*#]/.test(routingKey)) {
      this.logger?.warn('broker: topic patterns are matched literally on virtual transports', {
        exchange,
        routingKey,
        queue: queue.name,
      });
    }
    await ch.bind({ exchange, routingKey, queue: queue.name });
    this.declared.add(queue.name);
  }

  publish(message: TransportMessage, target: PublishTarget, options?: PublishOptions): Promise<void> {
    // The usual call (channel open, default exchange) reaches the store in this turn: a lone
    // call's latency is mostly such hops.
    const open = this.closed ? undefined : this.channel.peek();
    if (open && target.exchange === '') {
      try {
        return open.put(target.routingKey, message, metaOf(message, target, options), checkPublish(target, options));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.publishRouted(message, target, options);
  }

  private async publishRouted(message: TransportMessage, target: PublishTarget, options?: PublishOptions): Promise<void> {
    const ch = await this.ch();
    const deliverAt = checkPublish(target, options);
    const meta = metaOf(message, target, options);
    for (const queue of await this.route(ch, target)) await ch.put(queue, message, meta, deliverAt);
  }

  async publishMany(batch: readonly { message: TransportMessage; target: PublishTarget; options?: PublishOptions }[]): Promise<void> {
    const ch = await this.ch();
    const routes = new Map<string, string[]>();
    const ready: { queue: string; message: TransportMessage; meta: StoredMessageMeta }[] = [];
    for (const { message, target, options } of batch) {
      const deliverAt = checkPublish(target, options);
      const meta = metaOf(message, target, options);
      const routeKey = `${target.exchange}\u0000${target.routingKey}`;
      let queues = routes.get(routeKey);
      if (!queues) routes.set(routeKey, (queues = await this.route(ch, target)));
      for (const queue of queues) {
        if (deliverAt === null && ch.putMany) ready.push({ queue, message, meta });
        else await ch.put(queue, message, meta, deliverAt);
      }
    }
    if (ready.length > 0) await ch.putMany?.(ready);
  }

  /** The queues a publish goes to; none (with a warning) when nothing is bound, as kombu drops it. */
  private async route(ch: ChannelOps, target: PublishTarget): Promise<string[]> {
    const queues = target.exchange === '' ? [target.routingKey] : await ch.lookup(target.exchange, target.routingKey);
    if (queues.length === 0) {
      this.logger?.warn('broker: message matched no queue and was dropped', {
        exchange: target.exchange,
        routingKey: target.routingKey,
      });
    }
    return queues;
  }

  async consume(queues: string[], onMessage: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Subscription> {
    const unique = [...new Set(queues)];
    if (unique.length === 0 || unique.some((q) => !q)) throw new TypeError('consume needs at least one queue name');
    const prefetch = checkPrefetch(options.prefetch);
    const channel = await this.ch();
    const consumer = new Consumer(
      {
        ...this.settings,
        channel,
        logger: this.logger,
        unsettled: this.unsettled,
        onCancelled: (c) => this.consumers.delete(c),
      },
      unique,
      onMessage,
      prefetch,
    );
    this.consumers.add(consumer);
    return consumer;
  }

  async purge(queue: string): Promise<number> {
    return (await this.ch()).purge(queue);
  }

  async queueSize(queue: string): Promise<number> {
    return (await this.ch()).size(queue);
  }

  /** Messages rejected without requeue and kept in the store's dead-letter area. */
  async deadLetterCount(queue: string): Promise<number> {
    const ch = await this.ch();
    return ch.deadLetterCount ? ch.deadLetterCount(queue) : 0;
  }

  async publishFanout(exchange: string, routingKey: string, message: TransportMessage): Promise<void> {
    await (await this.ch()).publishFanout(exchange, routingKey, message);
  }

  async subscribeFanout(
    exchange: string,
    onMessage: (message: TransportMessage, routingKey: string) => void,
  ): Promise<FanoutSubscription> {
    const unsubscribe = await (await this.ch()).subscribeFanout(exchange, onMessage);
    let cancelled: Promise<void> | null = null;
    const cancel = (): Promise<void> => {
      this.fanouts.delete(cancel);
      cancelled ??= unsubscribe();
      return cancelled;
    };
    this.fanouts.add(cancel);
    return { cancel };
  }

  private ch(): Promise<ChannelOps> {
    if (this.closed) {
      return Promise.reject(new BrokerConnectionError(`${this.transport} broker ${this.url} is closed`));
    }
    return this.channel.get();
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    const channel = await this.channel.take();
    await Promise.all([...this.consumers].map((c) => c.cancel()));
    await Promise.all([...this.fanouts].map((cancel) => cancel().catch((err: unknown) => this.report('fanout cancel', err))));
    // kombu's restore_at_shutdown: whatever the caller still holds goes back to its queue.
    for (const delivery of [...this.unsettled]) {
      await delivery.reject(true).catch((err: unknown) => this.report('returning an unsettled delivery', err));
    }
    await channel?.close();
  }

  private report(what: string, err: unknown): void {
    this.logger?.error(`broker: ${what} failed during close`, { err });
  }
}
