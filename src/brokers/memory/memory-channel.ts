/**
 * In-process `ChannelOps` for tests and embedded use, like kombu's memory transport: state lives in a
 * module-level registry keyed by name, so every broker in the process with the same `memory://<name>`
 * URL sees the same queues. Messages are stored as kombu envelopes (the same text the SQLite and Redis
 * stores hold), which both copies them and keeps memory honest about what survives the wire.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { decodeEnvelope, encodeEnvelope } from '../../protocol/envelope.js';
import type { TransportMessage } from '../../protocol/types.js';
import { reservedFromEnvelope, type Binding, type ChannelOps, type ReservedMessage, type StoredMessageMeta } from '../virtual/channel.js';
import type { BrokerLogger } from '../virtual/options.js';
import { PUT_EVENT, reserveWithWait } from '../virtual/wait.js';

interface Row extends StoredMessageMeta {
  id: number;
  queue: string;
  payload: string;
  /** Ready at or after this time (ms); for a reserved row, when its reservation lapses. */
  visibleAt: number;
  /** Set while reserved; kept after a lapse until the row is reserved again, so a late ack still lands. */
  tag: string | null;
  deliveryCount: number;
  where: 'ready' | 'delayed' | 'reserved';
}

class QueueState {
  /** One bucket per priority 0..9, each ordered by (visibleAt, id). */
  readonly ready: Row[][] = Array.from({ length: 10 }, () => []);
  readonly delayed = new Set<Row>();
  readonly reserved = new Set<Row>();
}

interface FanoutSub {
  active: boolean;
  deliver(message: TransportMessage, routingKey: string): void;
}

interface DeadLetter {
  payload: string;
  reason: string;
  deadAt: number;
}

class MemoryState {
  nextId = 1;
  readonly queues = new Map<string, QueueState>();
  readonly tags = new Map<string, Row>();
  /** exchange -> routing key -> queues */
  readonly bindings = new Map<string, Map<string, Set<string>>>();
  readonly deadLetters = new Map<string, DeadLetter[]>();
  readonly fanout = new Map<string, Set<FanoutSub>>();
  readonly emitter = new EventEmitter().setMaxListeners(0);

  queue(name: string): QueueState {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = new QueueState()));
    return q;
  }
}

const registry = new Map<string, MemoryState>();

/** Forget the state of one memory broker name, or of all of them (test isolation). */
export function resetMemoryBroker(name?: string): void {
  if (name === undefined) registry.clear();
  else registry.delete(name);
}

export interface MemoryChannelOptions {
  /** Registry key: the part after `memory://`. */
  name: string;
  /** Seconds an unacked reservation lasts before the message is visible again. */
  visibilityTimeout: number;
  logger?: BrokerLogger;
}

export class MemoryChannel implements ChannelOps {
  private readonly state: MemoryState;
  private readonly closing = new AbortController();
  private readonly fanoutSubs = new Set<FanoutSub>();

  constructor(private readonly options: MemoryChannelOptions) {
    let state = registry.get(options.name);
    if (!state) registry.set(options.name, (state = new MemoryState()));
    this.state = state;
  }

  async put(queue: string, message: TransportMessage, meta: StoredMessageMeta, deliverAt: Date | null): Promise<void> {
    const now = Date.now();
    const row: Row = {
      ...meta,
      id: this.state.nextId++,
      queue,
      payload: encodeEnvelope(message, { exchange: meta.exchange, routingKey: meta.routingKey, priority: meta.priority }),
      visibleAt: Math.max(now, deliverAt?.getTime() ?? now),
      tag: null,
      deliveryCount: 0,
      where: 'ready',
    };
    this.place(row, now);
    this.state.emitter.emit(PUT_EVENT, queue);
  }

  reserve(queues: string[], max: number, waitMs: number, signal: AbortSignal): Promise<ReservedMessage[]> {
    return reserveWithWait({
      attempt: () => this.take(queues, max),
      nextWakeAt: () => this.nextDeadline(queues),
      emitter: this.state.emitter,
      queues,
      waitMs,
      signals: [signal, this.closing.signal],
    });
  }

  async ack(tag: string): Promise<void> {
    const row = this.state.tags.get(tag);
    if (row) this.drop(row);
  }

  async requeue(tag: string): Promise<void> {
    this.release(tag, Date.now());
  }

  async defer(tag: string, when: Date): Promise<void> {
    this.release(tag, when.getTime());
  }

  async extend(tag: string, seconds: number): Promise<void> {
    const row = this.state.tags.get(tag);
    if (!row) return;
    this.unplace(row);
    row.visibleAt = Date.now() + seconds * 1000;
    this.place(row, Date.now());
  }

  async deadLetter(tag: string, reason: string): Promise<void> {
    const row = this.state.tags.get(tag);
    if (!row) return;
    this.drop(row);
    const list = this.state.deadLetters.get(row.queue) ?? [];
    list.push({ payload: row.payload, reason, deadAt: Date.now() });
    this.state.deadLetters.set(row.queue, list);
  }

  async deadLetterCount(queue: string): Promise<number> {
    return this.state.deadLetters.get(queue)?.length ?? 0;
  }

  async purge(queue: string): Promise<number> {
    const q = this.promote(queue, Date.now());
    let removed = 0;
    for (const bucket of q.ready) {
      for (const row of bucket) if (row.tag) this.state.tags.delete(row.tag);
      removed += bucket.length;
      bucket.length = 0;
    }
    return removed;
  }

  async size(queue: string): Promise<number> {
    return this.promote(queue, Date.now()).ready.reduce((n, bucket) => n + bucket.length, 0);
  }

  async bind(binding: Binding): Promise<void> {
    const byKey = this.state.bindings.get(binding.exchange) ?? new Map<string, Set<string>>();
    this.state.bindings.set(binding.exchange, byKey);
    const queues = byKey.get(binding.routingKey) ?? new Set<string>();
    byKey.set(binding.routingKey, queues.add(binding.queue));
  }

  async lookup(exchange: string, routingKey: string): Promise<string[]> {
    return [...(this.state.bindings.get(exchange)?.get(routingKey) ?? [])];
  }

  async publishFanout(exchange: string, routingKey: string, message: TransportMessage): Promise<void> {
    const payload = encodeEnvelope(message, { exchange, routingKey });
    for (const sub of this.state.fanout.get(exchange) ?? []) {
      // Delivered on a later turn, as a real transport would, and decoded per subscriber (a copy each).
      setImmediate(() => {
        if (sub.active) sub.deliver(decodeEnvelope(payload), routingKey);
      });
    }
  }

  async subscribeFanout(
    exchange: string,
    onMessage: (message: TransportMessage, routingKey: string) => void,
  ): Promise<() => Promise<void>> {
    const sub: FanoutSub = {
      active: true,
      deliver: (message, routingKey) => {
        try {
          onMessage(message, routingKey);
        } catch (err) {
          this.options.logger?.error('broker: fanout callback threw', { err, exchange });
        }
      },
    };
    const subs = this.state.fanout.get(exchange) ?? new Set<FanoutSub>();
    this.state.fanout.set(exchange, subs.add(sub));
    this.fanoutSubs.add(sub);
    return async () => {
      sub.active = false;
      subs.delete(sub);
      this.fanoutSubs.delete(sub);
    };
  }

  async close(): Promise<void> {
    this.closing.abort();
    for (const sub of this.fanoutSubs) sub.active = false;
    for (const subs of this.state.fanout.values()) for (const sub of this.fanoutSubs) subs.delete(sub);
    this.fanoutSubs.clear();
  }

  /** Reserve up to `max`: lowest priority number first, then queue order, then (visibleAt, id). */
  private take(queues: string[], max: number): ReservedMessage[] {
    const now = Date.now();
    const states = queues.map((name) => this.promote(name, now));
    const out: ReservedMessage[] = [];
    for (let priority = 0; priority < 10 && out.length < max; priority++) {
      for (const q of states) {
        const bucket = q.ready[priority] as Row[];
        while (bucket.length > 0 && out.length < max) {
          const row = bucket.shift() as Row;
          if (row.tag) this.state.tags.delete(row.tag);
          const previousDeliveries = row.deliveryCount;
          row.deliveryCount++;
          row.tag = randomUUID();
          row.visibleAt = now + this.options.visibilityTimeout * 1000;
          row.where = 'reserved';
          q.reserved.add(row);
          this.state.tags.set(row.tag, row);
          const meta = { exchange: row.exchange, routingKey: row.routingKey, priority: row.priority };
          out.push(reservedFromEnvelope(row.tag, row.queue, meta, row.payload, previousDeliveries));
        }
      }
    }
    return out;
  }

  /** Move delayed rows that are due and reservations that lapsed into the ready buckets. */
  private promote(queue: string, now: number): QueueState {
    const q = this.state.queue(queue);
    for (const set of [q.delayed, q.reserved]) {
      for (const row of set) {
        if (row.visibleAt <= now) {
          set.delete(row);
          this.place(row, now);
        }
      }
    }
    return q;
  }

  private nextDeadline(queues: string[]): number | null {
    let next: number | null = null;
    for (const name of queues) {
      const q = this.state.queue(name);
      for (const set of [q.delayed, q.reserved]) {
        for (const row of set) if (next === null || row.visibleAt < next) next = row.visibleAt;
      }
    }
    return next;
  }

  /** Return a reserved row to its queue, visible from `visibleAt`. */
  private release(tag: string, visibleAt: number): void {
    const row = this.state.tags.get(tag);
    if (!row) return;
    this.unplace(row);
    this.state.tags.delete(tag);
    row.tag = null;
    row.visibleAt = visibleAt;
    this.place(row, Date.now());
    this.state.emitter.emit(PUT_EVENT, row.queue);
  }

  private drop(row: Row): void {
    this.unplace(row);
    if (row.tag) this.state.tags.delete(row.tag);
  }

  private place(row: Row, now: number): void {
    const q = this.state.queue(row.queue);
    if (row.visibleAt > now) {
      row.where = row.tag ? 'reserved' : 'delayed';
      (row.tag ? q.reserved : q.delayed).add(row);
      return;
    }
    row.where = 'ready';
    const bucket = q.ready[row.priority] as Row[];
    // Binary search from (visibleAt, id); new puts land at the end in O(log n).
    let lo = 0;
    let hi = bucket.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const other = bucket[mid] as Row;
      if (other.visibleAt < row.visibleAt || (other.visibleAt === row.visibleAt && other.id < row.id)) lo = mid + 1;
      else hi = mid;
    }
    bucket.splice(lo, 0, row);
  }

  private unplace(row: Row): void {
    const q = this.state.queue(row.queue);
    if (row.where === 'ready') {
      const bucket = q.ready[row.priority] as Row[];
      const at = bucket.indexOf(row);
      if (at !== -1) bucket.splice(at, 1);
    } else {
      (row.where === 'reserved' ? q.reserved : q.delayed).delete(row);
    }
  }
}
