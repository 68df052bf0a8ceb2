/**
 * `ChannelOps` on Amazon SQS, in kombu's wire format (body.ts) so Python Celery shares the queues:
 * - ack is DeleteMessage; requeue is ChangeMessageVisibility 0, as kombu's restore does;
 * - defer (ETA) and backoff are ChangeMessageVisibility too, capped by SQS at 12 h from receipt, so an
 *   ETA further out comes back early and is deferred again by the worker;
 * - extend (the worker's lease heartbeat) is ChangeMessageVisibility from now;
 * - "redelivered" is `ApproximateReceiveCount > 1`: the stored body cannot be changed;
 * - bindings live in this process, as in kombu's SQS transport; there is no fanout.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SendMessageBatchRequestEntry,
} from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { BrokerConnectionError } from '../../errors.js';
import { decodeEnvelope, isRecord, markRedelivered } from '../../protocol/envelope.js';
import type { TransportMessage } from '../../protocol/types.js';
import type { Binding, ChannelOps, ReservedMessage, StoredMessageMeta } from '../virtual/channel.js';
import type { BrokerLogger } from '../virtual/options.js';
import { clampPriority } from '../virtual/virtual-broker.js';
import { decodeSqsBody, encodeSqsBody } from './body.js';
import { SQS_MAX_VISIBILITY, type SqsOptions } from './options.js';
import { errorName, type ResolvedQueue, type SqsQueues } from './queues.js';
import { SQS_MAX_MESSAGES, SqsPoller, type Received } from './receive.js';

/** SendMessageBatch takes at most 256 KiB in all. */
const BATCH_MAX_BYTES = 256 * 1024;

interface Held {
  q: ResolvedQueue;
  messageId: string;
  receivedAt: number;
  receiveCount: number;
  taskName: string | undefined;
  /** A newer receipt of the same message exists (our visibility lapsed): this one settles nothing. */
  stale: boolean;
}

export class SqsChannel implements ChannelOps {
  private readonly poller: SqsPoller;
  private readonly held = new Map<string, Held>();
  private readonly latestReceipt = new Map<string, string>();
  private readonly bindings = new Map<string, Set<string>>();
  private readonly warnedCap = new Set<string>();
  private fanoutWarned = false;
  private closed = false;

  constructor(
    private readonly queues: SqsQueues,
    private readonly options: SqsOptions,
    private readonly logger?: BrokerLogger,
  ) {
    this.poller = new SqsPoller(queues, { ...options, logger });
  }

  async put(queue: string, message: TransportMessage, meta: StoredMessageMeta): Promise<void> {
    // ETA messages are stored at once, as kombu does; the worker defers them (see defer).
    const q = (await this.queues.resolve(queue)) as ResolvedQueue;
    await q.client.send(new SendMessageCommand({ QueueUrl: q.url, ...this.entry(q, message, meta) }));
  }

  async putMany(entries: readonly { queue: string; message: TransportMessage; meta: StoredMessageMeta }[]): Promise<void> {
    const byQueue = new Map<string, { q: ResolvedQueue; items: Omit<SendMessageBatchRequestEntry, 'Id'>[] }>();
    for (const { queue, message, meta } of entries) {
      let group = byQueue.get(queue);
      if (!group) byQueue.set(queue, (group = { q: (await this.queues.resolve(queue)) as ResolvedQueue, items: [] }));
      group.items.push(this.entry(group.q, message, meta));
    }
    for (const { q, items } of byQueue.values()) {
      for (const chunk of chunks(items)) {
        const out = await q.client.send(
          new SendMessageBatchCommand({ QueueUrl: q.url, Entries: chunk.map((item, i) => ({ Id: String(i), ...item })) }),
        );
        if (out.Failed && out.Failed.length > 0) {
          const first = out.Failed[0];
          throw new BrokerConnectionError(
            `SQS refused ${out.Failed.length} of ${chunk.length} messages of a batch to ${q.sqsName} (${first?.Code}: ${first?.Message}); the others were sent`,
          );
        }
      }
    }
  }

  /** SendMessage fields as kombu's `_put`: FIFO queues get a group (default `default`) and a dedup id. */
  private entry(q: ResolvedQueue, message: TransportMessage, meta: StoredMessageMeta): Omit<SendMessageBatchRequestEntry, 'Id'> {
    const body = encodeSqsBody(message, { exchange: meta.exchange, routingKey: meta.routingKey, priority: meta.priority }, this.options.base64Encoding);
    if (!q.fifo) return { MessageBody: body };
    const props = message.properties;
    return {
      MessageBody: body,
      MessageGroupId: typeof props.MessageGroupId === 'string' ? props.MessageGroupId : 'default',
      MessageDeduplicationId: typeof props.MessageDeduplicationId === 'string' ? props.MessageDeduplicationId : randomUUID(),
    };
  }

  async reserve(queues: string[], max: number, waitMs: number, signal: AbortSignal): Promise<ReservedMessage[]> {
    if (this.closed) return [];
    const received = await this.poller.reserve(queues, max, waitMs, signal);
    const out: ReservedMessage[] = [];
    for (const r of received) {
      const reserved = await this.toReserved(r);
      if (reserved) out.push(reserved);
    }
    return out;
  }

  private async toReserved(r: Received): Promise<ReservedMessage | null> {
    const tag = r.message.ReceiptHandle ?? '';
    const messageId = r.message.MessageId ?? tag;
    const receiveCount = Number(r.message.Attributes?.ApproximateReceiveCount ?? 1);
    const previous = this.latestReceipt.get(messageId);
    const older = previous === undefined ? undefined : this.held.get(previous);
    if (older) older.stale = true;
    this.latestReceipt.set(messageId, tag);
    const held: Held = { q: r.q, messageId, receivedAt: r.receivedAt, receiveCount, taskName: undefined, stale: false };
    this.held.set(tag, held);
    try {
      let message = decodeEnvelope(decodeSqsBody(r.message.Body ?? ''));
      const info = isRecord(message.properties.delivery_info) ? message.properties.delivery_info : {};
      const redelivered = receiveCount > 1 || message.headers.redelivered === true;
      if (redelivered) message = markRedelivered(message);
      held.taskName = typeof message.headers.task === 'string' ? message.headers.task : undefined;
      return {
        tag,
        queue: r.q.queue,
        message,
        exchange: typeof info.exchange === 'string' ? info.exchange : '',
        routingKey: typeof info.routing_key === 'string' ? info.routing_key : r.q.queue,
        priority: clampPriority(message.properties.priority),
        redelivered,
      };
    } catch (err) {
      const reason = `malformed SQS message: ${(err as Error).message}`;
      this.logger?.warn('broker: rejected a malformed message', { queue: r.q.queue, messageId, reason });
      await this.deadLetter(tag).catch((e: unknown) => this.logger?.error('broker: could not drop a malformed message', { err: (e as Error).message }));
      return null;
    }
  }

  async ack(tag: string): Promise<void> {
    const held = this.release(tag);
    if (!held) return;
    await held.q.client.send(new DeleteMessageCommand({ QueueUrl: held.q.url, ReceiptHandle: tag }));
  }

  async requeue(tag: string): Promise<void> {
    const held = this.release(tag);
    if (!held) return;
    await this.setVisibility(held, tag, 0);
  }

  /**
   * Rejected without requeue. A queue with a redrive policy keeps the message, so SQS moves it to its
   * dead-letter queue after maxReceiveCount receipts (what kombu does with every reject); without one
   * it is deleted, as the Broker contract says.
   */
  async deadLetter(tag: string): Promise<void> {
    const held = this.release(tag);
    if (!held) return;
    if (await this.queues.hasRedrivePolicy(held.q)) return;
    await held.q.client.send(new DeleteMessageCommand({ QueueUrl: held.q.url, ReceiptHandle: tag }));
  }

  async defer(tag: string, when: Date): Promise<void> {
    const held = this.release(tag);
    if (!held) return;
    const seconds = Math.max(0, Math.ceil((when.getTime() - Date.now()) / 1000));
    // Capped at 12 h from receipt: a later ETA reappears early and the worker defers it again.
    await this.setVisibility(held, tag, Math.min(seconds, this.maxVisibility(held)));
  }

  async extend(tag: string, seconds: number): Promise<void> {
    const held = this.held.get(tag);
    if (!held || held.stale) return;
    const wanted = Math.ceil(seconds);
    const allowed = this.maxVisibility(held);
    if (allowed < wanted && !this.warnedCap.has(tag)) {
      this.warnedCap.add(tag);
      this.logger?.warn('broker: SQS cannot hide a message more than 12 h after receipt; it will be redelivered', {
        queue: held.q.queue,
        messageId: held.messageId,
      });
    }
    await this.setVisibility(held, tag, Math.min(wanted, allowed));
  }

  /** Seconds of invisibility for a failed task from its queue's backoffPolicy, or null. */
  failureRetryDelay(tag: string): number | null {
    const held = this.held.get(tag);
    const predefined = held?.q.predefined;
    if (!held || held.stale || !predefined || !held.taskName || !predefined.backoffTasks.has(held.taskName)) return null;
    return predefined.backoffPolicy.get(held.receiveCount) ?? null;
  }

  purge(queue: string): Promise<number> {
    return this.queues.purge(queue);
  }

  size(queue: string): Promise<number> {
    return this.queues.approximateSize(queue);
  }

  async bind(binding: Binding): Promise<void> {
    // Create the queue now (unless predefined), as kombu's queue_declare does.
    await this.queues.resolve(binding.queue);
    const key = `${binding.exchange}\u0000${binding.routingKey}`;
    let set = this.bindings.get(key);
    if (!set) this.bindings.set(key, (set = new Set()));
    set.add(binding.queue);
  }

  async lookup(exchange: string, routingKey: string): Promise<string[]> {
    return [...(this.bindings.get(`${exchange}\u0000${routingKey}`) ?? [])].sort();
  }

  publishFanout(exchange: string): Promise<void> {
    return Promise.reject(
      new BrokerConnectionError(`the SQS broker has no fanout (exchange ${JSON.stringify(exchange)}): remote control and events need Redis or AMQP`),
    );
  }

  /** Nothing is ever broadcast on SQS (kombu's supports_fanout is False): the subscription stays silent. */
  async subscribeFanout(exchange: string): Promise<() => Promise<void>> {
    if (!this.fanoutWarned) {
      this.fanoutWarned = true;
      this.logger?.warn('broker: SQS has no fanout; remote control (revoke) and events are unavailable', { exchange });
    }
    return async () => undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.poller.close();
    this.queues.close();
  }

  /** Forget a delivery; returns it unless it was unknown or superseded by a newer receipt. */
  private release(tag: string): Held | null {
    const held = this.held.get(tag);
    if (!held) return null;
    this.held.delete(tag);
    this.warnedCap.delete(tag);
    if (this.latestReceipt.get(held.messageId) === tag) this.latestReceipt.delete(held.messageId);
    return held.stale ? null : held;
  }

  /** The longest visibility SQS still allows for this receipt: 12 h from when it was received. */
  private maxVisibility(held: Held): number {
    return Math.max(0, SQS_MAX_VISIBILITY - Math.ceil((Date.now() - held.receivedAt) / 1000));
  }

  private async setVisibility(held: Held, tag: string, seconds: number): Promise<void> {
    try {
      await held.q.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: held.q.url, ReceiptHandle: tag, VisibilityTimeout: seconds }));
    } catch (err) {
      // The receipt lapsed (another worker has the message now): nothing of ours left to change.
      if (errorName(err) === 'MessageNotInflight' || errorName(err) === 'ReceiptHandleIsInvalid') return;
      throw err;
    }
  }
}

function chunks<T extends { MessageBody?: string }>(items: T[]): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = Buffer.byteLength(item.MessageBody ?? '', 'utf8');
    if (current.length > 0 && (current.length >= SQS_MAX_MESSAGES || bytes + size > BATCH_MAX_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
