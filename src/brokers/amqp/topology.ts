/**
 * Exchanges, queues and bindings, declared as Celery declares them and remembered so that a new
 * connection gets all of them again. Names and arguments are Celery's/kombu's so a Python worker on the
 * same vhost declares the very same entities:
 *
 * - task queues: durable, with the exchange named in the declaration (Celery's `celery`, direct,
 *   durable) bound by routing key; `x-max-priority` / `x-queue-type` only when configured;
 * - native delayed delivery (kombu's `native_delayed_delivery.py`): topic exchanges and queues
 *   `celery_delayed_27` … `celery_delayed_0`, each queue holding messages 2^level s and dead-lettering
 *   them to the next level, then to the topic exchange `celery_delayed_delivery`, which task queues
 *   are bound to with `#.<routing key>`;
 * - dead letters: a direct exchange (`celeriac.dlx`) and one durable queue `<queue>.dead-letter` per
 *   source queue, bound by the source queue's name.
 *
 * A queue that already exists with other arguments (RabbitMQ answers 406 PRECONDITION_FAILED) is used
 * as it is, with a warning, rather than failing: its owner (often a Python worker) decides its shape.
 */
import type { Channel, ChannelModel } from 'amqplib';
import type { QueueDeclaration } from '../types.js';
import { queueArguments, type AmqpOptions } from './options.js';

export const DELAY_BITS = 28;
export const MAX_DELAY_SECONDS = 2 ** DELAY_BITS - 1;
const DELAYED_ROUTING_KEY = /^(?:[01]\.){28}/;

export function delayedLevelName(level: number, prefix: string): string {
  return prefix ? `${prefix}_celery_delayed_${level}` : `celery_delayed_${level}`;
}

export function delayedDeliveryExchange(prefix: string): string {
  return prefix ? `${prefix}_celery_delayed_delivery` : 'celery_delayed_delivery';
}

/** kombu's `calculate_routing_key`: the 28-bit countdown, one bit per word, then the routing key. */
export function delayedRoutingKey(seconds: number, routingKey: string): string {
  return `${seconds.toString(2).padStart(DELAY_BITS, '0').split('').join('.')}.${routingKey}`;
}

/** The routing key a delayed message was published with, without its countdown bits. */
export function withoutDelayBits(routingKey: string): string {
  return routingKey.replace(DELAYED_ROUTING_KEY, '');
}

export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead-letter`;
}

export interface ExchangeSpec {
  type: string;
  durable: boolean;
}

interface QueueSpec {
  durable: boolean;
  arguments: Record<string, unknown>;
}

/** Everything this broker declared, so a reconnect can declare it again and tests can delete it. */
export class Topology {
  readonly exchanges = new Map<string, ExchangeSpec>();
  readonly queues = new Map<string, QueueSpec>();
  /** `queue\0exchange\0routingKey` */
  readonly bindings = new Set<string>();
  /** Declared on the current connection (cleared on reconnect). */
  private readonly live = new Set<string>();
  private delayedDeclared: Promise<void> | null = null;

  constructor(private readonly options: AmqpOptions) {}

  get delayExchange(): string {
    return delayedLevelName(DELAY_BITS - 1, this.options.delayedDeliveryPrefix);
  }

  /** Forget what the old connection had; `redeclare` then declares everything on the new one. */
  reset(): void {
    this.live.clear();
    this.delayedDeclared = null;
  }

  async redeclare(model: ChannelModel): Promise<void> {
    for (const [name, spec] of this.exchanges) await this.declareExchange(model, name, spec);
    for (const [name, spec] of this.queues) await this.queue(model, name, spec);
    for (const key of this.bindings) {
      const [queue, exchange, routingKey] = key.split('\u0000') as [string, string, string];
      await this.bind(model, queue, exchange, routingKey);
    }
  }

  /** Celery's task queue: exchange, queue, binding, and the binding that brings delayed messages back. */
  async declareTaskQueue(model: ChannelModel, decl: QueueDeclaration): Promise<void> {
    const exchange = decl.exchange ?? decl.name;
    const routingKey = decl.routingKey ?? decl.name;
    await this.ensureQueue(model, decl.name, decl);
    if (exchange !== '') {
      await this.declareExchange(model, exchange, { type: decl.exchangeType ?? 'direct', durable: decl.durable ?? true });
      await this.bind(model, decl.name, exchange, routingKey);
      if (this.options.delayedDelivery && routingKey !== decl.name) await this.bindDelayed(model, decl.name, routingKey);
    }
  }

  /** A queue (with its delayed-delivery binding), as publishing to the default exchange creates it. */
  async ensureQueue(model: ChannelModel, name: string, decl?: QueueDeclaration): Promise<void> {
    if (!this.queues.has(name) || decl) {
      const spec: QueueSpec = { durable: decl?.durable ?? true, arguments: queueArguments(this.options, name, decl?.maxPriority) };
      await this.queue(model, name, spec);
    }
    if (this.options.delayedDelivery) await this.bindDelayed(model, name, name);
  }

  knowsQueue(name: string): boolean {
    return this.live.has(`q\u0000${name}`);
  }

  async ensureDeadLetterQueue(model: ChannelModel, exchange: string, queue: string): Promise<void> {
    await this.declareExchange(model, exchange, { type: 'direct', durable: true });
    const dlq = deadLetterQueueName(queue);
    if (!this.queues.has(dlq)) await this.queue(model, dlq, { durable: true, arguments: {} });
    await this.bind(model, dlq, exchange, queue);
  }

  /** kombu's `declare_native_delayed_delivery_exchanges_and_queues`, argument for argument. */
  ensureDelayedTopology(model: ChannelModel): Promise<void> {
    this.delayedDeclared ??= this.declareDelayed(model).catch((err: unknown) => {
      this.delayedDeclared = null;
      throw err;
    });
    return this.delayedDeclared;
  }

  private async declareDelayed(model: ChannelModel): Promise<void> {
    const prefix = this.options.delayedDeliveryPrefix;
    const queueType = this.options.delayedDeliveryQueueType;
    const ch = await model.createChannel();
    try {
      let routingKey = '1.#';
      for (let level = DELAY_BITS - 1; level >= 0; level--) {
        const name = delayedLevelName(level, prefix);
        const next = level > 0 ? delayedLevelName(level - 1, prefix) : delayedDeliveryExchange(prefix);
        await ch.assertExchange(name, 'topic', { durable: true });
        const args: Record<string, unknown> = {
          'x-queue-type': queueType,
          'x-overflow': 'reject-publish',
          'x-message-ttl': 2 ** level * 1000,
          'x-dead-letter-exchange': next,
        };
        if (queueType === 'quorum') args['x-dead-letter-strategy'] = 'at-least-once';
        await ch.assertQueue(name, { durable: true, arguments: args });
        await ch.bindQueue(name, name, routingKey);
        routingKey = `*.${routingKey}`;
      }
      routingKey = '0.#';
      for (let level = DELAY_BITS - 1; level > 0; level--) {
        await ch.bindExchange(delayedLevelName(level - 1, prefix), delayedLevelName(level, prefix), routingKey);
        routingKey = `*.${routingKey}`;
      }
      await ch.assertExchange(delayedDeliveryExchange(prefix), 'topic', { durable: true });
      await ch.bindExchange(delayedDeliveryExchange(prefix), delayedLevelName(0, prefix), routingKey);
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  private async bindDelayed(model: ChannelModel, queue: string, routingKey: string): Promise<void> {
    await this.ensureDelayedTopology(model);
    await this.bind(model, queue, delayedDeliveryExchange(this.options.delayedDeliveryPrefix), routingKey.startsWith('#') ? routingKey : `#.${routingKey}`);
  }

  async declareExchange(model: ChannelModel, name: string, spec: ExchangeSpec): Promise<void> {
    const key = `e\u0000${name}`;
    if (this.live.has(key)) return;
    await withChannel(model, async (ch) => {
      await ch.assertExchange(name, spec.type, { durable: spec.durable, autoDelete: false });
    }, async (ch, err) => {
      await ch.checkExchange(name);
      this.options.logger?.warn('amqp: exchange exists with other settings; using it as it is', { exchange: name, err: errText(err) });
    });
    if (!this.exchanges.has(name)) this.exchanges.set(name, spec);
    this.live.add(key);
  }

  private async queue(model: ChannelModel, name: string, spec: QueueSpec): Promise<void> {
    const key = `q\u0000${name}`;
    if (this.live.has(key) && this.queues.has(name)) return;
    await withChannel(model, async (ch) => {
      await ch.assertQueue(name, { durable: spec.durable, autoDelete: false, exclusive: false, arguments: spec.arguments });
    }, async (ch, err) => {
      await ch.checkQueue(name);
      this.options.logger?.warn('amqp: queue exists with other arguments; using it as it is', {
        queue: name,
        wanted: spec.arguments,
        err: errText(err),
      });
    });
    this.queues.set(name, spec);
    this.live.add(key);
  }

  private async bind(model: ChannelModel, queue: string, exchange: string, routingKey: string): Promise<void> {
    const key = `${queue}\u0000${exchange}\u0000${routingKey}`;
    if (this.live.has(`b\u0000${key}`)) return;
    await withChannel(model, (ch) => ch.bindQueue(queue, exchange, routingKey).then(() => undefined));
    this.bindings.add(key);
    this.live.add(`b\u0000${key}`);
  }
}

/**
 * Run `op` on a short-lived channel: a failed declaration closes its channel (AMQP channel errors), so
 * risky operations never touch the long-lived publishing channel. `onPrecondition` runs on a fresh
 * channel after a 406.
 */
export async function withChannel<T>(
  model: ChannelModel,
  op: (ch: Channel) => Promise<T>,
  onPrecondition?: (ch: Channel, err: unknown) => Promise<T>,
): Promise<T> {
  const ch = await model.createChannel();
  ch.on('error', () => undefined); // the rejected promise carries the error
  try {
    return await op(ch);
  } catch (err) {
    if (!onPrecondition || amqpCode(err) !== 406) throw err;
    return withChannel(model, (fresh) => onPrecondition(fresh, err));
  } finally {
    await ch.close().catch(() => undefined);
  }
}

export function amqpCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
