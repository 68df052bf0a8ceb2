/**
 * The small set of storage operations a "virtual" transport implements, after kombu's
 * `kombu/transport/virtual` Channel. `VirtualBroker` builds the full `Broker` (prefetch accounting,
 * queue rotation, routing through bindings, delivery objects) on top of these, so that memory,
 * SQLite and Redis share that logic instead of copying it.
 */
import { decodeEnvelope, markRedelivered } from '../../protocol/envelope.js';
import type { TransportMessage } from '../../protocol/types.js';

export interface StoredMessageMeta {
  exchange: string;
  routingKey: string;
  /** Celery/kombu priority 0..9. On virtual transports lower numbers are served first, as kombu's Redis does. */
  priority: number;
}

export interface ReservedMessage extends StoredMessageMeta {
  /** Unique per delivery; used to ack, reject, defer or extend. */
  tag: string;
  queue: string;
  message: TransportMessage;
  redelivered: boolean;
}

export interface Binding {
  exchange: string;
  routingKey: string;
  queue: string;
}

/** kombu's `queue_order_strategy`: rotate after each message, or keep queues sorted or as given. */
export type QueueOrderStrategy = 'round_robin' | 'sorted' | 'priority';

export interface ChannelOps {
  /** How the consumer orders its queues between reserves; round-robin when absent. */
  readonly queueOrder?: QueueOrderStrategy;
  /** Store a ready message (or a delayed one, visible from `deliverAt`). */
  put(queue: string, message: TransportMessage, meta: StoredMessageMeta, deliverAt: Date | null): Promise<void>;
  /** Store several ready messages at once; stores without it get one `put` each. */
  putMany?(entries: readonly { queue: string; message: TransportMessage; meta: StoredMessageMeta }[]): Promise<void>;
  /**
   * Reserve up to `max` visible messages from `queues`, trying the queues in the given order. A reserved
   * message is invisible to others until acked, requeued, or its visibility timeout passes. When nothing
   * is ready, wait up to `waitMs` (or until `signal` aborts) for something to arrive before returning [].
   */
  reserve(queues: string[], max: number, waitMs: number, signal: AbortSignal): Promise<ReservedMessage[]>;
  ack(tag: string): Promise<void>;
  /** Ack several at once (one store call); stores without it get one `ack` each. */
  ackMany?(tags: string[]): Promise<void>;
  /** Return a reserved message to its queue, marked redelivered. */
  requeue(tag: string): Promise<void>;
  /** Remove a reserved message from the queues, keeping it with `reason` where the store can. */
  deadLetter(tag: string, reason: string): Promise<void>;
  /** Return a reserved message to its queue, invisible until `when`. */
  defer(tag: string, when: Date): Promise<void>;
  /** Push a reserved message's visibility deadline `seconds` from now. */
  extend(tag: string, seconds: number): Promise<void>;
  /**
   * Seconds to keep a reserved message whose task failed invisible before its next attempt, from the
   * store's own retry policy (SQS `backoffPolicy`); null when none applies. The message is then deferred.
   */
  failureRetryDelay?(tag: string): number | null;
  purge(queue: string): Promise<number>;
  size(queue: string): Promise<number>;
  /** Messages of `queue` kept by `deadLetter`; optional for stores without a dead-letter area. */
  deadLetterCount?(queue: string): Promise<number>;
  bind(binding: Binding): Promise<void>;
  /** Queues bound to `exchange` with `routingKey` (direct matching). */
  lookup(exchange: string, routingKey: string): Promise<string[]>;
  publishFanout(exchange: string, routingKey: string, message: TransportMessage): Promise<void>;
  subscribeFanout(exchange: string, onMessage: (message: TransportMessage, routingKey: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * A reservation from a stored kombu envelope. `previousDeliveries` > 0 marks it redelivered, in the
 * message too, as kombu's restore does.
 */
export function reservedFromEnvelope(
  tag: string,
  queue: string,
  meta: StoredMessageMeta,
  payload: string,
  previousDeliveries: number,
): ReservedMessage {
  const message = decodeEnvelope(payload);
  const redelivered = previousDeliveries > 0;
  return { tag, queue, ...meta, redelivered, message: redelivered ? markRedelivered(message) : message };
}
