/**
 * The Broker interface every transport implements (memory, SQLite, and later Redis, AMQP, SQS).
 *
 * It is the smallest surface the app and the worker need: publish, consume with prefetch and
 * per-message ack/reject, delayed delivery, visibility, and fanout for events and remote control.
 * Brokers move `TransportMessage`s and never look inside the body.
 */
import type { TransportMessage } from '../protocol/types.js';

/** Where a message is published: an exchange and a routing key, as in AMQP. `''` is the default exchange. */
export interface PublishTarget {
  exchange: string;
  routingKey: string;
}

export interface PublishOptions {
  /** 0..9; mapped to the broker's priority model (kombu steps on virtual transports, x-max-priority on AMQP). */
  priority?: number;
  /** Hold the message in the broker until this time (ETA/countdown). Ignored by brokers without delayed delivery. */
  deliverAt?: Date | null;
}

export interface QueueDeclaration {
  name: string;
  exchange?: string;
  exchangeType?: 'direct' | 'topic' | 'fanout';
  routingKey?: string;
  durable?: boolean;
  maxPriority?: number;
}

export interface DeliveryInfo {
  exchange: string;
  routing_key: string;
  priority: number;
  redelivered: boolean;
}

/** One received message, unacked until `ack` or `reject` is called. */
export interface Delivery {
  readonly message: TransportMessage;
  readonly queue: string;
  readonly deliveryTag: string;
  readonly redelivered: boolean;
  readonly deliveryInfo: DeliveryInfo;
  ack(): Promise<void>;
  /**
   * `requeue: true` puts the message back for another delivery. `requeue: false` drops it, keeping it
   * in a dead-letter store where the broker has one; `reason` is recorded there.
   */
  reject(requeue: boolean, reason?: string): Promise<void>;
  /** Make the message invisible until `when`, then deliverable again, without holding it in memory. */
  deferUntil?(when: Date): Promise<void>;
  /** Push the visibility deadline of this still-running message `seconds` from now. */
  extendVisibility?(seconds: number): Promise<void>;
  /**
   * The task this still-unsettled message carries has failed. A broker with its own retry policy for it
   * (SQS `backoffPolicy`) keeps the message for a later attempt and returns true: the delivery is then
   * settled and must not be acked or rejected. Returns false when no policy applies.
   */
  retryAfterFailure?(): Promise<boolean>;
}

export interface ConsumeOptions {
  /** Maximum unacked deliveries handed to this consumer at once; 0 means unlimited. */
  prefetch: number;
}

export interface Subscription {
  /** Stop receiving. Messages already delivered stay with the caller until acked or rejected. */
  cancel(): Promise<void>;
  /** Change the prefetch limit at runtime (autoscale, remote control). */
  setPrefetch(prefetch: number): void;
  /**
   * Stop taking new messages (a reserve under way is abandoned), or start again. For the worker's
   * no-prefetch mode; brokers that push messages (AMQP) may not have it.
   */
  setPaused?(paused: boolean): void;
  /** Count of deliveries handed out and not yet settled. */
  readonly inFlight: number;
}

export interface FanoutSubscription {
  cancel(): Promise<void>;
}

export interface BrokerCapabilities {
  /**
   * `deliverAt` is honoured: the broker holds a published message until then. Where it is false the
   * message is stored at once and the worker defers it (`Delivery.deferUntil`, when present).
   */
  delayedDelivery: boolean;
  /** Unacked messages come back after a visibility timeout; `extendVisibility` exists. */
  visibilityTimeout: boolean;
  /** Rejected messages are kept somewhere inspectable. */
  deadLetter: boolean;
  /** Priorities order delivery. False where priority is only carried along (SQS). Absent means true. */
  priorities?: boolean;
  /** `publishFanout` reaches other processes. False on SQS (no fanout, as in kombu). Absent means true. */
  fanout?: boolean;
  /**
   * Which priority numbers are served first: kombu's virtual transports serve 0 first (Redis
   * semantics), RabbitMQ serves the highest first (`x-max-priority` queues).
   */
  priorityOrder: 'lower-first' | 'higher-first';
  /**
   * A consumer of several queues serves them in strict turn (kombu's round-robin cycle). False where
   * the broker pushes from each queue on its own (AMQP: every queue gets its consumer, none starves,
   * but the interleaving is the server's).
   */
  roundRobinQueues: boolean;
}

export interface Broker {
  /** Transport name, e.g. `sqlite`, `memory`. */
  readonly transport: string;
  /** The URL with any password redacted: safe to log. */
  readonly url: string;
  readonly capabilities: BrokerCapabilities;
  /** Seconds an unacked delivery stays invisible before it is redelivered, where the broker has one. */
  readonly visibilityTimeout?: number;
  connect(): Promise<void>;
  /** Release every connection and timer. Unsettled deliveries are returned to their queues. */
  close(): Promise<void>;
  declareQueue(queue: QueueDeclaration): Promise<void>;
  publish(message: TransportMessage, target: PublishTarget, options?: PublishOptions): Promise<void>;
  /** Publish a batch, in order, in as few broker operations as the transport allows. */
  publishMany?(batch: readonly { message: TransportMessage; target: PublishTarget; options?: PublishOptions }[]): Promise<void>;
  consume(queues: string[], onMessage: (delivery: Delivery) => void, options: ConsumeOptions): Promise<Subscription>;
  /** Delete every ready message of a queue; returns how many were removed. */
  purge(queue: string): Promise<number>;
  /** Ready (not reserved, not delayed) messages in a queue. */
  queueSize(queue: string): Promise<number>;
  /** Broadcast to every current subscriber of `exchange`; nothing is stored. */
  publishFanout(exchange: string, routingKey: string, message: TransportMessage): Promise<void>;
  subscribeFanout(
    exchange: string,
    onMessage: (message: TransportMessage, routingKey: string) => void,
  ): Promise<FanoutSubscription>;
}
