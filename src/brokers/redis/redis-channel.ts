/**
 * `ChannelOps` on Redis in kombu's exact layout (see layout.ts and scripts.ts), so Python Celery
 * and celeriac share queues. What differs from kombu is only how safely things move:
 * - taking a message and recording it as unacked is one script, in batches (`RPOP key count`);
 * - idle consumers block in BRPOP (no polling) and are woken for shutdown by CLIENT UNBLOCK;
 * - held messages are re-scored instead of being restored under a live worker (restore.ts);
 * - ETA messages are deferred by score, not held in memory.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { decodeEnvelope, encodeEnvelope, isRecord, markEnvelopeRedelivered } from '../../protocol/envelope.js';
import type { TransportMessage } from '../../protocol/types.js';
import type { Binding, ChannelOps, QueueOrderStrategy, ReservedMessage, StoredMessageMeta } from '../virtual/channel.js';
import type { BrokerLogger } from '../virtual/options.js';
import { clampPriority } from '../virtual/virtual-broker.js';
import { Batcher } from '../../utils/batcher.js';
import { BlockingConnections } from './blocking.js';
import { openRedis, type RedisConnectionSpec } from './connection.js';
import { RedisFanout } from './fanout.js';
import type { RedisLayout } from './layout.js';
import { UnackedRestorer } from './restore.js';
import { defineBrokerScripts, type BrokerScripts } from './scripts.js';

export interface RedisChannelOptions {
  connection: RedisConnectionSpec;
  layout: RedisLayout;
  queueOrder?: QueueOrderStrategy;
  /** Seconds before an unacked message of a dead consumer is restored. */
  visibilityTimeout: number;
  /** Longest single BRPOP, seconds: how often an idle consumer wakes on its own. */
  pollingInterval: number;
  /** Connections this broker may open (main + subscriber + blocking consumers). */
  maxConnections: number;
  /** Seconds between PINGs that detect dead connections; 0 disables. */
  healthCheckInterval: number;
  /** Longest pause between visibility restore scans, seconds. */
  unackedRestoreInterval: number;
  /** kombu's `unacked_mutex_expire`, seconds. */
  unackedMutexExpire: number;
  /** kombu's `unacked_restore_limit`: entries per restore round. */
  unackedRestoreLimit: number;
  /** Dead-lettered messages kept per queue. */
  deadLetterKeep: number;
  logger?: BrokerLogger;
}

/** What we remember about a delivery until it is settled. */
interface Held {
  list: string;
  queue: string;
  payload: string;
}

export class RedisChannel implements ChannelOps {
  private readonly client: Redis & BrokerScripts;
  private readonly blocking: BlockingConnections;
  private readonly fanout: RedisFanout;
  private readonly restorer: UnackedRestorer;
  private readonly held = new Map<string, Held>();
  /** Deliveries handed out before their unacked record landed: tag -> the tag it was recorded under. */
  private readonly recording = new Map<string, Promise<string>>();
  /** Per consumer (by its abort signal): what the record script of its last BRPOP took along. */
  private readonly followers = new Map<AbortSignal, Promise<ReservedMessage[]>>();
  private readonly watched = new WeakSet<AbortSignal>();
  /** Of those, the ones whose record has not been sent yet, and those acked before it was. */
  private readonly unrecorded = new Set<string>();
  private readonly ackedUnrecorded = new Set<string>();
  /** Of those, the ones recorded under another tag (a duplicate envelope), until settled. */
  private readonly renamed = new Map<string, string>();
  /** Puts of one tick go to Redis as one LPUSH per list. */
  private readonly puts = new Batcher<{ queue: string; message: TransportMessage; meta: StoredMessageMeta }>((entries) => this.putMany(entries), 1000);
  /** Acks of one tick go to Redis as one script call. */
  private readonly acks = new Batcher<string>((tags) => this.ackScript(tags).then(() => undefined), 4000);
  /** Bindings declared by this process, to rebuild a `_kombu.binding` set that went missing. */
  private readonly bindings = new Map<string, Set<string>>();
  private readonly healthTimer: NodeJS.Timeout | null = null;
  private readonly layout: RedisLayout;
  readonly queueOrder: QueueOrderStrategy;
  private closed = false;

  constructor(private readonly options: RedisChannelOptions) {
    this.layout = options.layout;
    this.queueOrder = options.queueOrder ?? 'round_robin';
    this.client = defineBrokerScripts(this.open('main'));
    this.blocking = new BlockingConnections((connectionName) => this.open('blocking', { enableAutoPipelining: false, connectionName }), this.client, Math.max(1, options.maxConnections - 2));
    this.fanout = new RedisFanout(this.client, () => this.open('subscriber', { enableAutoPipelining: false }), this.layout, options.logger);
    this.restorer = new UnackedRestorer({
      client: this.client,
      layout: this.layout,
      visibilityTimeout: options.visibilityTimeout,
      lookup: (exchange, routingKey) => this.lookup(exchange, routingKey),
      maxIntervalMs: options.unackedRestoreInterval * 1000,
      mutexExpireMs: options.unackedMutexExpire * 1000,
      batch: options.unackedRestoreLimit,
      logger: options.logger,
    });
    if (options.healthCheckInterval > 0) {
      this.healthTimer = setInterval(() => void this.client.ping().catch(() => undefined), options.healthCheckInterval * 1000);
      this.healthTimer.unref();
    }
  }

  /** Open the main connection now, so a wrong address fails at connect() rather than later. */
  async connect(): Promise<void> {
    if (this.client.status === 'wait') await this.client.connect();
  }

  put(queue: string, message: TransportMessage, meta: StoredMessageMeta): Promise<void> {
    // An ETA message goes on the list like kombu's, so a Python worker can take it too; a celeriac
    // worker defers it by score (`defer`) instead of holding it. Puts of one tick share a write.
    return this.puts.add({ queue, message, meta });
  }

  async putMany(entries: readonly { queue: string; message: TransportMessage; meta: StoredMessageMeta }[]): Promise<void> {
    // One LPUSH per list keeps publish order and costs one command per list, not per message.
    const byList = new Map<string, string[]>();
    for (const { queue, message, meta } of entries) {
      const list = this.layout.listKey(queue, meta.priority);
      const payload = encodeEnvelope(message, { exchange: meta.exchange, routingKey: meta.routingKey, priority: meta.priority });
      const payloads = byList.get(list);
      if (payloads) payloads.push(payload);
      else byList.set(list, [payload]);
    }
    await Promise.all([...byList].map(([list, payloads]) => this.client.lpush(list, ...payloads)));
  }

  async reserve(queues: string[], max: number, waitMs: number, signal: AbortSignal): Promise<ReservedMessage[]> {
    if (this.closed || signal.aborted) return [];
    this.restorer.start();
    const order = this.layout.consumeOrder([...new Set(queues)]);
    const keys = [this.layout.unacked, this.layout.unackedIndex];
    for (const { list, queue } of order) keys.push(list, this.layout.deadLetterKey(queue));
    const queueOf = new Map(order.map(({ list, queue }) => [list, queue]));
    const pending = this.followers.get(signal);
    let listsEmpty = false;
    if (pending) {
      // What the last BRPOP's record script took along: hand it out, or, if it found the lists
      // empty, block right away instead of asking again.
      this.followers.delete(signal);
      const taken = await this.onlyFor(new Set(queues), await pending);
      if (taken.length > 0) return taken;
      listsEmpty = true;
    }
    if (!listsEmpty) {
      const first = await this.take(keys, max, 0, '', queueOf);
      if (first.length > 0 || waitMs <= 0) return first;
    } else if (waitMs <= 0) return [];
    const timeoutSeconds = Math.min(waitMs / 1000, this.options.pollingInterval);
    // A consumer that may take more learns with the pop whether anything is left: an idle worker
    // woken for one message then skips asking for followers (a script call per message).
    const lists = order.map((o) => o.list);
    const popped = max > 1 ? await this.blocking.brpopCounting(lists, timeoutSeconds, signal) : await this.blocking.brpop(lists, timeoutSeconds, signal);
    if (!popped) return [];
    const [list, payload, remaining] = popped;
    const pair = order.findIndex((o) => o.list === list) + 1;
    const direct = this.dispatchBeforeRecorded(keys, remaining === 0 ? 1 : max, pair, list, payload, queueOf, signal);
    if (direct) return [direct];
    try {
      return await this.take(keys, max, pair, payload, queueOf);
    } catch (err) {
      // BRPOP took it but recording it failed: put it back at the head rather than lose it.
      await this.client.rpush(list, payload).catch((pushErr: unknown) =>
        this.options.logger?.error('broker: a popped message could not be recorded or returned', { err: pushErr, list }),
      );
      throw err;
    }
  }

  /**
   * A message BRPOP woke us for is handed out at once, and the script recording it as unacked goes
   * out after the current turn, once the worker has seen it: an idle worker's latency is one round
   * trip shorter. A message acked within that turn (an early ack, as Celery's default) needs no
   * record at all, so the script then only takes the following messages; its result write also
   * goes out first. Any other settle (late ack, requeue, ...) waits for the record, so the two can
   * never cross, and uses the record's real tag (it differs when a duplicate of the envelope is
   * already held). Kombu itself pops before it records; a failed record is logged, and the message,
   * already running, is not pushed back (it would run twice). Null when the envelope must take the
   * ordinary path (malformed, or its tag held here).
   */
  private dispatchBeforeRecorded(
    keys: string[],
    max: number,
    pair: number,
    list: string,
    payload: string,
    queueOf: Map<string, string>,
    signal: AbortSignal,
  ): ReservedMessage | null {
    const queue = queueOf.get(list) ?? list;
    let message: ReservedMessage;
    try {
      message = reserved('', queue, payload);
    } catch {
      return null; // malformed: the script dead-letters it
    }
    const tag = message.message.properties.delivery_tag;
    if (typeof tag !== 'string' || tag === '' || this.held.has(tag) || this.recording.has(tag) || this.renamed.has(tag)) return null;
    message.tag = tag;
    this.held.set(tag, { list, queue, payload });
    let settleRecord!: (actual: string) => void;
    const recorded = new Promise<string>((resolve) => (settleRecord = resolve));
    let settleFollowers!: (taken: ReservedMessage[] | Promise<ReservedMessage[]>) => void;
    const followers = new Promise<ReservedMessage[]>((resolve) => (settleFollowers = resolve));
    this.recording.set(tag, recorded);
    this.unrecorded.add(tag);
    void recorded.then(() => this.recording.delete(tag));
    setImmediate(() => {
      this.unrecorded.delete(tag);
      const acked = this.ackedUnrecorded.delete(tag);
      if (acked && max <= 1) {
        settleRecord(tag);
        settleFollowers([]);
        return;
      }
      // The same script also takes up to `max - 1` more messages: the consumer's next reserve gets
      // them (or learns the lists were empty) without another call.
      const flat = acked
        ? this.client.celeriacReserve(keys.length, ...keys, max - 1, 0, '', Date.now() / 1000)
        : this.client.celeriacReserve(keys.length, ...keys, Math.max(1, max), pair, payload, Date.now() / 1000);
      flat.then(
        (reply) => {
          if (acked) return settleRecord(tag);
          const actual = (reply[1] as string | undefined) || tag;
          if (actual !== tag) {
            const held = this.held.get(tag);
            this.held.delete(tag);
            if (held) this.held.set(actual, held);
            this.renamed.set(tag, actual);
          }
          settleRecord(actual);
        },
        (err: unknown) => {
          if (!acked) this.options.logger?.error('broker: a message taken by BRPOP could not be recorded as unacked; it runs unrecorded', { err, list });
          settleRecord(tag);
        },
      );
      flat.then(
        (reply) => settleFollowers(this.adoptTaken(acked ? reply : reply.slice(3), queueOf)),
        () => settleFollowers([]),
      );
    });
    this.followers.set(signal, followers);
    // A consumer cancelled before it asked again: its followers go back to their lists.
    if (!this.watched.has(signal)) {
      this.watched.add(signal);
      signal.addEventListener('abort', () => void this.returnFollowers(signal), { once: true });
    }
    return message;
  }

  /** Messages for other queues than the asking consumer's go back (another consumer's BRPOP took them). */
  private async onlyFor(queues: Set<string>, taken: ReservedMessage[]): Promise<ReservedMessage[]> {
    const out: ReservedMessage[] = [];
    for (const message of taken) {
      if (queues.has(message.queue)) out.push(message);
      else await this.requeue(message.tag).catch((err: unknown) => this.options.logger?.error('broker: could not return a message', { err, deliveryTag: message.tag }));
    }
    return out;
  }

  private async returnFollowers(signal: AbortSignal): Promise<void> {
    const pending = this.followers.get(signal);
    if (!pending) return;
    this.followers.delete(signal);
    for (const message of await pending) {
      await this.requeue(message.tag).catch((err: unknown) => this.options.logger?.error('broker: could not return a message', { err, deliveryTag: message.tag }));
    }
  }

  /** The tag a delivery is recorded under, once its record (if one is in flight) has landed. */
  private async recordedTag(tag: string, settling: boolean): Promise<string> {
    const real = (await this.recording.get(tag)) ?? this.renamed.get(tag) ?? tag;
    if (settling) this.renamed.delete(tag);
    return real;
  }

  /** Whether `tag` may still be waiting for, or known under another name after, its record. */
  private provisional(tag: string): boolean {
    return this.recording.has(tag) || this.renamed.has(tag);
  }

  ack(tag: string): Promise<void> {
    if (this.unrecorded.has(tag)) {
      // Acked before its record went out: the record is skipped, so there is nothing to remove.
      this.ackedUnrecorded.add(tag);
      this.held.delete(tag);
      return ACKED;
    }
    if (this.provisional(tag)) return this.recordedTag(tag, true).then((real) => this.ack(real));
    this.held.delete(tag);
    return this.acks.add(tag);
  }

  ackMany(tags: string[]): Promise<void> {
    // The tags share one batch (and its promise) unless a record still in flight holds some back.
    const waits: Promise<void>[] = [];
    for (const tag of tags) {
      const wait = this.ack(tag);
      if (wait !== waits[waits.length - 1]) waits.push(wait);
    }
    return waits.length === 1 ? waits[0]! : Promise.all(waits).then(() => undefined);
  }

  private ackScript(tags: string[]): Promise<number> {
    return this.client.celeriacAck(this.layout.unacked, this.layout.unackedIndex, ...tags);
  }

  async requeue(tag: string): Promise<void> {
    if (this.provisional(tag)) return this.requeue(await this.recordedTag(tag, true));
    const held = this.held.get(tag);
    if (!held) return;
    const keys = [this.layout.unacked, this.layout.unackedIndex, held.list];
    await this.client.celeriacRestore(keys.length, ...keys, tag, '', markEnvelopeRedelivered(held.payload, randomUUID()), 'front');
    this.held.delete(tag);
  }

  async deadLetter(tag: string, reason: string): Promise<void> {
    if (this.provisional(tag)) return this.deadLetter(await this.recordedTag(tag, true), reason);
    const held = this.held.get(tag);
    const queue = held?.queue ?? 'unknown';
    const { unacked, unackedIndex } = this.layout;
    await this.client.celeriacDeadLetter(unacked, unackedIndex, this.layout.deadLetterKey(queue), tag, reason, this.options.deadLetterKeep, '');
    this.held.delete(tag);
  }

  async defer(tag: string, when: Date): Promise<void> {
    if (this.provisional(tag)) return this.defer(await this.recordedTag(tag, true), when);
    // Restorable exactly when due, by us or by a Python worker's restore_visible.
    const score = when.getTime() / 1000 - this.options.visibilityTimeout;
    await this.client.zadd(this.layout.unackedIndex, 'XX', score, tag);
    this.held.delete(tag);
    this.restorer.wakeAt(when.getTime());
  }

  async extend(tag: string, seconds: number): Promise<void> {
    if (this.provisional(tag)) return this.extend(await this.recordedTag(tag, false), seconds);
    const score = Date.now() / 1000 + seconds - this.options.visibilityTimeout;
    await this.client.zadd(this.layout.unackedIndex, 'XX', score, tag);
  }

  async purge(queue: string): Promise<number> {
    const lists = this.layout.queueLists(queue);
    const multi = this.client.multi();
    for (const list of lists) multi.llen(list);
    multi.del(...lists);
    const replies = (await multi.exec()) ?? [];
    return replies.slice(0, lists.length).reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
  }

  async size(queue: string): Promise<number> {
    const sizes = await Promise.all(this.layout.queueLists(queue).map((list) => this.client.llen(list)));
    return sizes.reduce((a, b) => a + b, 0);
  }

  async deadLetterCount(queue: string): Promise<number> {
    return this.client.llen(this.layout.deadLetterKey(queue));
  }

  async bind(binding: Binding): Promise<void> {
    const member = this.layout.bindingMember(binding.routingKey, binding.queue);
    let set = this.bindings.get(binding.exchange);
    if (!set) this.bindings.set(binding.exchange, (set = new Set()));
    set.add(member);
    await this.client.sadd(this.layout.bindingKey(binding.exchange), member);
  }

  async lookup(exchange: string, routingKey: string): Promise<string[]> {
    let members = await this.client.smembers(this.layout.bindingKey(exchange));
    const known = this.bindings.get(exchange);
    if (members.length === 0 && known && known.size > 0) {
      // Evicted or flushed: rebuild what this process declared instead of dropping messages.
      this.options.logger?.warn('broker: binding set was missing and has been rebuilt', { exchange });
      await this.client.sadd(this.layout.bindingKey(exchange), ...known);
      members = [...known];
    }
    const queues = new Set<string>();
    for (const member of members) {
      const parsed = this.layout.parseBindingMember(member);
      if (parsed && parsed.routingKey === routingKey) queues.add(parsed.queue);
    }
    return [...queues].sort();
  }

  publishFanout(exchange: string, routingKey: string, message: TransportMessage): Promise<void> {
    return this.fanout.publish(exchange, routingKey, message);
  }

  subscribeFanout(exchange: string, onMessage: (message: TransportMessage, routingKey: string) => void): Promise<() => Promise<void>> {
    return this.fanout.subscribe(exchange, onMessage);
  }

  /** Run one visibility restore pass now (tests, and `celeriac` maintenance). */
  restoreVisible(): Promise<number> {
    return this.restorer.scanOnce();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    for (const signal of [...this.followers.keys()]) await this.returnFollowers(signal);
    await this.restorer.stop();
    await this.blocking.close();
    await this.fanout.close();
    await this.client.quit().catch(() => this.client.disconnect());
  }

  private async take(keys: string[], max: number, pair: number, payload: string, queueOf: Map<string, string>): Promise<ReservedMessage[]> {
    const flat = await this.client.celeriacReserve(keys.length, ...keys, max, pair, payload, Date.now() / 1000);
    return this.adoptTaken(flat, queueOf);
  }

  /** The script's `{list, tag, payload, ...}` reply as reservations (malformed ones dead-lettered). */
  private async adoptTaken(flat: string[], queueOf: Map<string, string>): Promise<ReservedMessage[]> {
    const out: ReservedMessage[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      const list = flat[i] as string;
      const tag = flat[i + 1] as string;
      const raw = flat[i + 2] as string;
      const queue = queueOf.get(list) ?? list;
      if (!tag) {
        this.options.logger?.warn('broker: dead-lettered a malformed message', { queue, reason: 'not JSON with properties.delivery_tag' });
        continue;
      }
      this.held.set(tag, { list, queue, payload: raw });
      try {
        const message = reserved(tag, queue, raw);
        // The script found the tag by plain search; it must be the one in properties (or that tag
        // with the script's '#' suffix for a duplicate), else the envelope is not kombu's.
        const own = message.message.properties.delivery_tag;
        if (typeof own !== 'string' || (tag !== own && !tag.startsWith(`${own}#`))) {
          throw new Error('properties.delivery_tag is missing or not the envelope\'s only delivery_tag');
        }
        out.push(message);
      } catch (err) {
        const reason = `malformed envelope: ${(err as Error).message}`;
        this.options.logger?.warn('broker: dead-lettered a malformed message', { queue, reason });
        await this.deadLetter(tag, reason);
      }
    }
    return out;
  }

  private open(role: string, extra: Parameters<typeof openRedis>[1] = {}): Redis {
    const redis = openRedis(this.options.connection, extra);
    let reported = false;
    // Without a listener ioredis prints every reconnect error; report once per outage instead.
    redis.on('error', (err: Error) => {
      if (reported || this.closed) return;
      reported = true;
      this.options.logger?.error(`broker: Redis ${role} connection error; reconnecting`, { err: err.message });
    });
    redis.on('ready', () => {
      if (reported) this.options.logger?.warn(`broker: Redis ${role} connection restored`);
      reported = false;
      if (role === 'main') void this.redeclareBindings();
    });
    return redis;
  }

  /** After a reconnect (maybe to a restarted, empty Redis) put our bindings back. */
  private async redeclareBindings(): Promise<void> {
    for (const [exchange, members] of this.bindings) {
      if (members.size === 0) continue;
      await this.client.sadd(this.layout.bindingKey(exchange), ...members).catch(() => undefined);
    }
  }
}

const ACKED = Promise.resolve();

function reserved(tag: string, queue: string, payload: string): ReservedMessage {
  const message = decodeEnvelope(payload);
  const info = isRecord(message.properties.delivery_info) ? message.properties.delivery_info : {};
  return {
    tag,
    queue,
    message,
    exchange: typeof info.exchange === 'string' ? info.exchange : '',
    routingKey: typeof info.routing_key === 'string' ? info.routing_key : queue,
    priority: clampPriority(message.properties.priority),
    redelivered: message.headers.redelivered === true || info.redelivered === true,
  };
}
