/**
 * `ChannelOps` on Redis in kombu's exact layout (see layout.ts and scripts.ts), so Python Celery
 * and celeriac share queues. What differs from kombu is only how safely things move:
 * - a batch is taken into a hold list by one script, so a taken message is never only in memory,
 *   and recorded as unacked once the worker has seen it (nothing for a message acked at once);
 * - idle consumers block in BRPOP (no polling) and are woken for shutdown by CLIENT UNBLOCK;
 * - held messages are re-scored instead of being restored under a live worker (restore.ts);
 * - ETA messages are deferred by score, not held in memory.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { decodeEnvelope, encodeEnvelope, isRecord, markEnvelopeRedelivered } from '../../protocol/envelope.js';
import { dumps } from '../../protocol/pyjson.js';
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

/** A message to store on its queue's list. */
type PutEntry = { queue: string; message: TransportMessage; meta: StoredMessageMeta };

/** What we remember about a delivery until it is settled. */
interface Held extends Taken {
  /** Where it was published to, for the unacked record (kombu's `[envelope, exchange, routing_key]`). */
  exchange: string;
  routingKey: string;
}

/** A message a take or a BRPOP moved out of its list. */
interface Taken {
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
  /**
   * Deliveries handed out before their unacked record is written (it goes out after the turn that
   * took them): tag -> the write. Settles other than an early ack wait for it.
   */
  private readonly recording = new Map<string, Promise<void>>();
  /** Of those, the ones whose record has not been sent yet, and those acked before it was. */
  private readonly unrecorded = new Set<string>();
  private readonly ackedUnrecorded = new Set<string>();
  /** Per consumer (by its abort signal): the take that followed its last BRPOP. */
  private readonly followers = new Map<AbortSignal, Promise<ReservedMessage[]>>();
  private readonly watched = new WeakSet<AbortSignal>();
  /** Names this channel's hold lists. */
  private readonly id = randomUUID();
  private holdSeq = 0;
  /** Set when Redis refused the take (an ACL without `SORT`): messages then come one by one by BRPOP. */
  private takeRefused = false;
  /** Puts of one tick go to Redis as one LPUSH per list. */
  private readonly puts = new Batcher<PutEntry>((entries) => this.putMany(entries), 1000, true);
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

  async putMany(entries: readonly PutEntry[]): Promise<void> {
    if (entries.length === 1) {
      // A lone call (the common case outside bulk sends): straight to its LPUSH.
      const [list, payload] = this.listAndPayload(entries[0]!);
      await this.client.lpush(list, payload);
      return;
    }
    // One LPUSH per list keeps publish order and costs one command per list, not per message.
    const byList = new Map<string, string[]>();
    for (const entry of entries) {
      const [list, payload] = this.listAndPayload(entry);
      const payloads = byList.get(list);
      if (payloads) payloads.push(payload);
      else byList.set(list, [payload]);
    }
    await Promise.all([...byList].map(([list, payloads]) => this.client.lpush(list, ...payloads)));
  }

  /** The list a message goes to (by priority) and its kombu envelope. */
  private listAndPayload({ queue, message, meta }: PutEntry): [list: string, payload: string] {
    return [this.layout.listKey(queue, meta.priority), encodeEnvelope(message, { exchange: meta.exchange, routingKey: meta.routingKey, priority: meta.priority })];
  }

  async reserve(queues: string[], max: number, waitMs: number, signal: AbortSignal): Promise<ReservedMessage[]> {
    if (this.closed || signal.aborted) return [];
    this.restorer.start();
    const order = this.layout.consumeOrder([...new Set(queues)]);
    const pending = this.followers.get(signal);
    let listsEmpty = false;
    if (pending) {
      // What followed the last BRPOP: hand it out, or, if the lists were empty, block right away
      // (in this turn when nothing was asked for: the BRPOP is written before reserve returns).
      this.followers.delete(signal);
      if (pending !== NOTHING_TAKEN) {
        const taken = await this.onlyFor(new Set(queues), await pending);
        if (taken.length > 0) return taken;
      }
      listsEmpty = true;
    }
    if (!listsEmpty && !this.takeRefused) {
      const first = await this.take(order, max);
      if (first.length > 0 || waitMs <= 0) return first;
    } else if (waitMs <= 0) return [];
    const timeoutSeconds = Math.min(waitMs / 1000, this.options.pollingInterval);
    // A consumer that may take more learns with the pop whether anything is left: an idle worker
    // woken for one message then skips the take that would find nothing.
    const lists = order.map((o) => o.list);
    const popped = max > 1 ? await this.blocking.brpopCounting(lists, timeoutSeconds, signal) : await this.blocking.brpop(lists, timeoutSeconds, signal);
    if (!popped) return [];
    const [list, payload, remaining] = popped;
    // BRPOP hands the message straight to us (kombu's way): only a crash before its record is
    // written could lose it. The message runs at once; the record follows after this turn.
    const direct = this.adopt(null, [{ list, queue: order.find((o) => o.list === list)?.queue ?? list, payload }]);
    // What the next reserve gets: a take when something was left behind, else nothing (it then
    // blocks again at once instead of asking).
    this.setFollowers(signal, max > 1 && remaining !== 0 && !this.takeRefused ? this.takeAfterTurn(order, max - direct.length) : NOTHING_TAKEN);
    return direct;
  }

  /** After this turn (after the record of a BRPOP'd message goes out), take what came in behind it. */
  private takeAfterTurn(order: { list: string; queue: string }[], max: number): Promise<ReservedMessage[]> {
    return new Promise<ReservedMessage[]>((resolve) =>
      setImmediate(() =>
        resolve(
          this.take(order, max).catch((err: unknown) => {
            this.options.logger?.error('broker: taking messages failed', { err });
            return [];
          }),
        ),
      ),
    );
  }

  private setFollowers(signal: AbortSignal, followers: Promise<ReservedMessage[]>): void {
    this.followers.set(signal, followers);
    // A consumer cancelled before it asked again: its followers go back to their lists. One cancelled
    // while its pop was answered gets here after the abort event: return them now.
    if (signal.aborted) void this.returnFollowers(signal);
    else if (!this.watched.has(signal)) {
      this.watched.add(signal);
      signal.addEventListener('abort', () => void this.returnFollowers(signal), { once: true });
    }
  }

  /**
   * Move up to `max` messages of the first non-empty list into a new hold and read them, in one
   * write (the script, then `LRANGE` of the hold).
   */
  private async take(order: { list: string; queue: string }[], max: number): Promise<ReservedMessage[]> {
    const hold = this.layout.holdKey(this.id, ++this.holdSeq);
    const lists = order.map((o) => o.list);
    const moved = this.client.celeriacTake(lists.length + 2, this.layout.holds, hold, ...lists, max, Date.now() / 1000, hold);
    const read = this.client.lrange(hold, 0, -1);
    const [where, payloads] = await Promise.all([moved, read]).catch((err: unknown) => {
      // (Redis 7.0 words it "can't run this command", later versions NOPERM.)
      if (!/NOPERM|can't run this command/.test(String((err as Error).message))) throw err;
      if (!this.takeRefused) {
        this.takeRefused = true;
        this.options.logger?.error('broker: Redis refused the take script (its ACL lacks SORT, in @dangerous); taking messages one by one with BRPOP', { err: (err as Error).message });
      }
      return [[], []] as [number[], string[]];
    });
    const from = where.length >= 2 ? order[Number(where[0]) - 1] : undefined;
    if (!from || payloads.length === 0) return [];
    // The hold keeps list order; the oldest message (RPOP's next) is last.
    const taken: Taken[] = [];
    for (let i = payloads.length - 1; i >= 0; i--) taken.push({ list: from.list, queue: from.queue, payload: payloads[i] as string });
    return this.adopt(hold, taken);
  }

  /**
   * Taken messages as deliveries, handed out at once. Their unacked records (kombu's, under each
   * envelope's own delivery tag) are written after the current turn, with the hold's deletion, in
   * one MULTI; a message acked within that turn (an early ack, Celery's default) needs no record. A
   * malformed envelope is dead-lettered by the same write.
   */
  private adopt(hold: string | null, taken: Taken[]): ReservedMessage[] {
    const out: ReservedMessage[] = [];
    const tags: string[] = [];
    const dead: { queue: string; payload: string; reason: string }[] = [];
    for (const { list, queue, payload } of taken) {
      let message: ReservedMessage;
      try {
        message = reserved('', queue, payload);
      } catch (err) {
        dead.push({ queue, payload, reason: `malformed envelope: ${(err as Error).message}` });
        continue;
      }
      const own = message.message.properties.delivery_tag;
      if (typeof own !== 'string' || own === '') {
        dead.push({ queue, payload, reason: 'malformed envelope: no properties.delivery_tag' });
        continue;
      }
      // The same envelope held twice (a duplicate publish) gets a tag of its own.
      const tag = this.held.has(own) || this.recording.has(own) ? `${own}#${randomUUID()}` : own;
      message.tag = tag;
      // (A missing routing key reads as the queue: restore then sends it back where it came from.)
      this.held.set(tag, { list, queue, payload, exchange: message.exchange, routingKey: message.routingKey });
      this.unrecorded.add(tag);
      tags.push(tag);
      out.push(message);
    }
    if (tags.length === 0 && dead.length === 0 && hold === null) return out;
    const written = new Promise<void>((resolve) => setImmediate(() => void this.record(hold, tags, dead).then(resolve)));
    for (const tag of tags) this.recording.set(tag, written);
    return out;
  }

  /** Write the records of what is still unacked, dead-letter the malformed, and drop the hold. */
  private async record(hold: string | null, tags: string[], dead: { queue: string; payload: string; reason: string }[]): Promise<void> {
    const now = Date.now() / 1000;
    const fields: string[] = [];
    const scores: (string | number)[] = [];
    for (const tag of tags) {
      this.unrecorded.delete(tag);
      if (this.ackedUnrecorded.delete(tag)) continue;
      const held = this.held.get(tag);
      if (!held) continue;
      fields.push(tag, `[${held.payload}, ${dumps(held.exchange)}, ${dumps(held.routingKey)}]`);
      scores.push(now, tag);
    }
    if (fields.length > 0 || dead.length > 0 || hold !== null) {
      const { unacked, unackedIndex } = this.layout;
      const write = this.client.multi();
      if (fields.length > 0) write.hset(unacked, ...fields).zadd(unackedIndex, ...scores);
      for (const { queue, payload, reason } of dead) {
        const key = this.layout.deadLetterKey(queue);
        write.lpush(key, this.layout.deadLetterEntry(reason, payload)).ltrim(key, 0, this.options.deadLetterKeep - 1);
      }
      if (hold !== null) write.del(hold).zrem(this.layout.holds, hold);
      try {
        await write.exec();
      } catch (err) {
        // The messages run anyway; a hold left behind is restored after the visibility timeout.
        this.options.logger?.error('broker: taken messages could not be recorded as unacked', { err, count: fields.length / 2 });
      }
      for (const { queue, reason } of dead) this.options.logger?.warn('broker: dead-lettered a malformed message', { queue, reason });
    }
    for (const tag of tags) this.recording.delete(tag);
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

  ack(tag: string): Promise<void> {
    if (this.unrecorded.has(tag)) {
      // Acked before its record went out: the record is skipped, so there is nothing to remove.
      this.ackedUnrecorded.add(tag);
      this.held.delete(tag);
      return ACKED;
    }
    const recording = this.recording.get(tag);
    if (recording) return recording.then(() => this.ack(tag));
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
    await this.recording.get(tag);
    const held = this.held.get(tag);
    if (!held) return;
    const keys = [this.layout.unacked, this.layout.unackedIndex, held.list];
    await this.client.celeriacRestore(keys.length, ...keys, tag, '', markEnvelopeRedelivered(held.payload, randomUUID()), 'front');
    this.held.delete(tag);
  }

  async deadLetter(tag: string, reason: string): Promise<void> {
    await this.recording.get(tag);
    const held = this.held.get(tag);
    const queue = held?.queue ?? 'unknown';
    const { unacked, unackedIndex } = this.layout;
    await this.client.celeriacDeadLetter(unacked, unackedIndex, this.layout.deadLetterKey(queue), tag, reason, this.options.deadLetterKeep, '');
    this.held.delete(tag);
  }

  async defer(tag: string, when: Date): Promise<void> {
    await this.recording.get(tag);
    // Restorable exactly when due, by us or by a Python worker's restore_visible.
    const score = when.getTime() / 1000 - this.options.visibilityTimeout;
    await this.client.zadd(this.layout.unackedIndex, 'XX', score, tag);
    this.held.delete(tag);
    this.restorer.wakeAt(when.getTime());
  }

  async extend(tag: string, seconds: number): Promise<void> {
    await this.recording.get(tag);
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
const NOTHING_TAKEN: Promise<ReservedMessage[]> = Promise.resolve([]);

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
