/**
 * The RabbitMQ (AMQP 0-9-1) broker on amqplib. Not a virtual transport: RabbitMQ routes, stores,
 * orders by priority, limits prefetch (`basic.qos`) and requeues unacked messages of a dead connection
 * itself, so this class maps the Broker interface onto it: confirmed publishes, one channel per
 * subscription, real ack/nack, dead-lettering through an exchange, Celery's native delayed delivery,
 * fanout exchanges, and recovery of all of it on a new connection.
 */
import type { ChannelModel } from 'amqplib';
import { BrokerConnectionError } from '../../errors.js';
import type { TransportMessage } from '../../protocol/types.js';
import { OpenOnce } from '../../utils/open-once.js';
import type {
  Broker,
  BrokerCapabilities,
  ConsumeOptions,
  Delivery,
  DeliveryInfo,
  FanoutSubscription,
  PublishOptions,
  PublishTarget,
  QueueDeclaration,
  Subscription,
} from '../types.js';
import { checkPrefetch } from '../virtual/consumer.js';
import { checkPublish, clampPriority } from '../virtual/virtual-broker.js';
import { AmqpConnection } from './connection.js';
import { AmqpSubscription, type SubscriptionContext } from './consumer.js';
import { FanoutSubscriber } from './fanout.js';
import { confirmPublish, PublisherChannel } from './publisher.js';
import { publishOptions, type PublishSettings } from './messages.js';
import { queueArguments, type AmqpOptions } from './options.js';
import { amqpCode, deadLetterQueueName, delayedRoutingKey, MAX_DELAY_SECONDS, Topology, withChannel } from './topology.js';

/** How long an operation waits for a connection that is being re-established. */
const RECONNECT_WAIT_MS = 20_000;

type Batch = readonly { message: TransportMessage; target: PublishTarget; options?: PublishOptions }[];

export class AmqpBroker implements Broker {
  readonly transport = 'amqp';
  readonly url: string;
  readonly capabilities: BrokerCapabilities;
  readonly topology: Topology;
  private readonly connection: AmqpConnection;
  private readonly opened: OpenOnce<void>;
  private readonly publisher: PublisherChannel;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly subscriptions = new Set<AmqpSubscription>();
  private readonly fanouts = new Set<FanoutSubscriber>();
  /** Quorum queues learnt from RabbitMQ refusing channel-wide QoS on them. */
  private readonly quorumQueues = new Set<string>();

  constructor(private readonly options: AmqpOptions) {
    this.url = options.redactedUrl;
    this.topology = new Topology(options);
    this.capabilities = {
      delayedDelivery: options.delayedDelivery,
      visibilityTimeout: false,
      deadLetter: options.deadLetterExchange !== null,
      priorityOrder: 'higher-first',
      roundRobinQueues: false,
    };
    this.publisher = new PublisherChannel(options.logger, (exchange, routingKey) =>
      options.logger?.warn('broker: message matched no queue and was dropped', { exchange, routingKey }),
    );
    this.connection = new AmqpConnection(
      options,
      (model, reconnected) => this.setUp(model, reconnected),
      (err) => this.learnFromLoss(err),
    );
    this.opened = new OpenOnce(() => this.connection.open());
  }

  async connect(): Promise<void> {
    await this.model();
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  async declareQueue(queue: QueueDeclaration): Promise<void> {
    if (!queue.name) throw new TypeError('declareQueue needs a queue name');
    await this.topology.declareTaskQueue(await this.model(), queue);
  }

  async publish(message: TransportMessage, target: PublishTarget, options?: PublishOptions): Promise<void> {
    await this.publishMany([{ message, target, options }]);
  }

  /** Every message is sent before any confirm is awaited: one round trip for the whole batch. */
  async publishMany(batch: Batch): Promise<void> {
    const model = await this.model();
    const sends: { exchange: string; routingKey: string; message: TransportMessage; settings: PublishSettings }[] = [];
    for (const { message, target, options } of batch) {
      const deliverAt = checkPublish(target, options);
      const priority = options?.priority ?? message.properties.priority;
      const settings: PublishSettings = priority === undefined || priority === null ? {} : { priority: clampPriority(priority) };
      let { exchange, routingKey } = target;
      if (exchange === '' && !this.topology.knowsQueue(routingKey)) await this.topology.ensureQueue(model, routingKey);
      const seconds = deliverAt ? this.delaySeconds(deliverAt) : 0;
      if (seconds > 0) {
        await this.topology.ensureDelayedTopology(model);
        routingKey = delayedRoutingKey(seconds, routingKey);
        exchange = this.topology.delayExchange;
        settings.withoutExpiration = true;
      }
      sends.push({ exchange, routingKey, message, settings });
    }
    const channel = await this.publisher.get(model);
    await Promise.all(sends.map((s) => confirmPublish(channel, s.exchange, s.routingKey, s.message.body, { ...publishOptions(s.message, s.settings), mandatory: true })));
  }

  async consume(queues: string[], onMessage: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Subscription> {
    const unique = [...new Set(queues)];
    if (unique.length === 0 || unique.some((q) => !q)) throw new TypeError('consume needs at least one queue name');
    const prefetch = checkPrefetch(options.prefetch);
    const model = await this.model();
    // kombu's Consumer declares its queues before consuming; so do we (a no-op for known ones).
    for (const queue of unique) if (!this.topology.knowsQueue(queue)) await this.topology.ensureQueue(model, queue);
    const sub = new AmqpSubscription(this.subscriptionContext(), unique, onMessage, prefetch);
    this.subscriptions.add(sub);
    const known = this.quorumQueues.size;
    try {
      await sub.start(model);
    } catch (err) {
      if (this.quorumQueues.size === known || !unique.some((q) => this.quorumQueues.has(q))) {
        this.subscriptions.delete(sub);
        await sub.closeChannel();
        throw err;
      }
      // RabbitMQ refused channel-wide QoS on a quorum queue and closed the connection; the reconnect
      // has started this subscription again, with per-consumer QoS.
      await this.model();
    }
    return sub;
  }

  /** A quorum queue refuses channel-wide QoS with a connection error naming it: remember it. */
  private learnFromLoss(err?: Error): void {
    const match = /queue '([^']+)' in vhost '[^']*' does not support global qos/.exec(err?.message ?? '');
    if (!match?.[1]) return;
    this.quorumQueues.add(match[1]);
    this.options.logger?.warn('amqp: queue is a quorum queue; consuming it with per-consumer prefetch', { queue: match[1] });
  }

  async purge(queue: string): Promise<number> {
    const model = await this.model();
    return this.ifQueueExists(model, async (ch) => (await ch.purgeQueue(queue)).messageCount);
  }

  async queueSize(queue: string): Promise<number> {
    const model = await this.model();
    return this.ifQueueExists(model, async (ch) => (await ch.checkQueue(queue)).messageCount);
  }

  /** Messages dead-lettered from `queue`, waiting in `<queue>.dead-letter`. */
  async deadLetterCount(queue: string): Promise<number> {
    return this.queueSize(deadLetterQueueName(queue));
  }

  async publishFanout(exchange: string, routingKey: string, message: TransportMessage): Promise<void> {
    const model = await this.model();
    await this.topology.declareExchange(model, exchange, { type: 'fanout', durable: false });
    const channel = await this.publisher.get(model);
    await confirmPublish(channel, exchange, routingKey, message.body, publishOptions(message));
  }

  async subscribeFanout(exchange: string, onMessage: (message: TransportMessage, routingKey: string) => void): Promise<FanoutSubscription> {
    const model = await this.model();
    await this.topology.declareExchange(model, exchange, { type: 'fanout', durable: false });
    const sub = new FanoutSubscriber(exchange, onMessage, this.options.logger, (s) => this.fanouts.delete(s));
    this.fanouts.add(sub);
    await sub.start(model);
    return sub;
  }

  private async model(): Promise<ChannelModel> {
    if (this.closed) throw new BrokerConnectionError(`amqp broker ${this.url} is closed`);
    await this.opened.get();
    return this.connection.current(RECONNECT_WAIT_MS);
  }

  /** On every new connection: topology first, then consumers, so nothing consumes an undeclared queue. */
  private async setUp(model: ChannelModel, reconnected: boolean): Promise<void> {
    this.publisher.reset();
    this.topology.reset();
    if (!reconnected) return;
    await this.topology.redeclare(model);
    for (const sub of this.subscriptions) await sub.start(model);
    for (const fanout of this.fanouts) await fanout.start(model);
  }

  private delaySeconds(deliverAt: Date): number {
    if (!this.options.delayedDelivery) return 0;
    // Rounded up: a message never arrives before its ETA (kombu truncates, and its worker waits the rest).
    return Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((deliverAt.getTime() - Date.now()) / 1000)));
  }

  private subscriptionContext(): SubscriptionContext {
    const withoutMarker = (message: TransportMessage): TransportMessage => {
      const { redelivered: _marker, ...headers } = message.headers;
      return { ...message, headers };
    };
    return {
      logger: this.options.logger,
      globalQos: (queues) =>
        this.options.globalQos && !queues.some((q) => this.quorumQueues.has(q) || queueArguments(this.options, q)['x-queue-type'] === 'quorum'),
      onCancelled: (sub) => this.subscriptions.delete(sub),
      deadLetter: async (message: TransportMessage, queue: string, info: DeliveryInfo, reason: string) => {
        const exchange = this.options.deadLetterExchange;
        if (!exchange) return false;
        const model = await this.model();
        await this.topology.ensureDeadLetterQueue(model, exchange, queue);
        const copy = withoutMarker(message);
        copy.headers = {
          ...copy.headers,
          'x-dead-letter-reason': reason,
          'x-original-queue': queue,
          'x-original-exchange': info.exchange,
          'x-original-routing-key': info.routing_key,
        };
        await confirmPublish(await this.publisher.get(model), exchange, queue, copy.body, publishOptions(copy));
        return true;
      },
      delay: this.options.delayedDelivery
        ? async (message: TransportMessage, queue: string, when: Date) => {
            const model = await this.model();
            await this.topology.ensureQueue(model, queue);
            await this.topology.ensureDelayedTopology(model);
            const seconds = Math.max(1, this.delaySeconds(when));
            const copy = withoutMarker(message);
            await confirmPublish(await this.publisher.get(model), this.topology.delayExchange, delayedRoutingKey(seconds, queue), copy.body, {
              ...publishOptions(copy, { withoutExpiration: true }),
              mandatory: true,
            });
          }
        : undefined,
    };
  }

  private async ifQueueExists(model: ChannelModel, op: Parameters<typeof withChannel<number>>[1]): Promise<number> {
    try {
      return await withChannel(model, op);
    } catch (err) {
      if (amqpCode(err) === 404) return 0;
      throw err;
    }
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    // Closing the channels returns every unacked delivery to its queue (kombu's restore at shutdown).
    await Promise.all([...this.subscriptions].map((s) => s.closeChannel()));
    await Promise.all([...this.fanouts].map((f) => f.cancel()));
    this.subscriptions.clear();
    if (this.opened.started) await this.connection.close();
  }
}
