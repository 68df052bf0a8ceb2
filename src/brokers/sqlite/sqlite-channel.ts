/**
 * `ChannelOps` on a SQLite file (better-sqlite3): the embedded default broker. Several processes may
 * share the file; every state change is one committed transaction, so killing a process loses nothing.
 *
 * A message is one row whose `visible_at` says when it may be delivered. Reserving sets it to
 * now + visibility timeout with a fresh `delivery_tag`, so a reservation whose holder died simply
 * becomes visible again: no restore sweep, no mutex (kombu's Redis needs both, §2.4). Payloads are the
 * kombu JSON envelope, the same text kombu's Redis transport stores.
 */
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { encodeEnvelope } from '../../protocol/envelope.js';
import type { TransportMessage } from '../../protocol/types.js';
import { reservedFromEnvelope, type Binding, type ChannelOps, type ReservedMessage, type StoredMessageMeta } from '../virtual/channel.js';
import type { BrokerLogger } from '../virtual/options.js';
import { PUT_EVENT, reserveWithWait } from '../virtual/wait.js';
import { openComponentDatabase, releaseHub, type SqliteDatabase } from './database.js';
import { SqliteFanout } from './sqlite-fanout.js';

/** Schema migrations of the broker tables, one SQL script per version. */
const SCHEMA: readonly string[] = [
  `CREATE TABLE celeriac_messages (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     queue TEXT NOT NULL,
     priority INTEGER NOT NULL,
     exchange TEXT NOT NULL,
     routing_key TEXT NOT NULL,
     payload TEXT NOT NULL,
     visible_at INTEGER NOT NULL,
     delivery_tag TEXT,
     delivery_count INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL
   );
   -- Reserve order: an index range scan whatever the number of delayed or reserved rows.
   CREATE INDEX celeriac_messages_order ON celeriac_messages (queue, priority, visible_at);
   -- "Anything visible?", "next deadline", size and purge.
   CREATE INDEX celeriac_messages_visible ON celeriac_messages (queue, visible_at);
   CREATE TABLE celeriac_bindings (
     exchange TEXT NOT NULL,
     routing_key TEXT NOT NULL,
     queue TEXT NOT NULL,
     PRIMARY KEY (exchange, routing_key, queue)
   ) WITHOUT ROWID;
   CREATE TABLE celeriac_dead_letters (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     queue TEXT NOT NULL,
     exchange TEXT NOT NULL,
     routing_key TEXT NOT NULL,
     priority INTEGER NOT NULL,
     payload TEXT NOT NULL,
     reason TEXT NOT NULL,
     delivery_count INTEGER NOT NULL,
     dead_at INTEGER NOT NULL
   );
   CREATE INDEX celeriac_dead_letters_queue ON celeriac_dead_letters (queue);
   CREATE TABLE celeriac_fanout (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     exchange TEXT NOT NULL,
     routing_key TEXT NOT NULL,
     payload TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX celeriac_fanout_created ON celeriac_fanout (created_at);`,
];

export interface SqliteChannelOptions {
  /** Absolute path of the database file. */
  file: string;
  /** Seconds a reservation lasts unless extended. */
  visibilityTimeout: number;
  /** Seconds between checks for work published by other processes. */
  pollingInterval: number;
  logger?: BrokerLogger;
}

interface CandidateRow {
  id: number;
  queue: string;
  priority: number;
  exchange: string;
  routing_key: string;
  payload: string;
  delivery_count: number;
}

type Picked = CandidateRow & { tag: string };

export class SqliteChannel implements ChannelOps {
  private readonly db: SqliteDatabase;
  private readonly realPath: string;
  private readonly hub: EventEmitter;
  private readonly fanout: SqliteFanout;
  private readonly closing = new AbortController();
  private readonly visibilityMs: number;
  private readonly pollMs: number;
  private readonly sql;
  private readonly reserveTx: (queues: string[], max: number) => Picked[];

  constructor(private readonly options: SqliteChannelOptions) {
    const { db, realPath, hub } = openComponentDatabase(options.file, 'broker', SCHEMA);
    this.db = db;
    this.realPath = realPath;
    this.hub = hub;
    this.visibilityMs = options.visibilityTimeout * 1000;
    this.pollMs = Math.max(1, options.pollingInterval * 1000);
    this.fanout = new SqliteFanout(db, this.hub, this.pollMs, options.logger);
    const byTag = 'WHERE id = ? AND delivery_tag = ?';
    this.sql = {
      insert: db.prepare(
        `INSERT INTO celeriac_messages (queue, priority, exchange, routing_key, payload, visible_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      anyVisible: db.prepare('SELECT 1 FROM celeriac_messages WHERE queue = ? AND visible_at <= ? LIMIT 1').pluck(),
      candidates: db.prepare(
        `SELECT id, queue, priority, exchange, routing_key, payload, delivery_count
         FROM celeriac_messages INDEXED BY celeriac_messages_order
         WHERE queue = ? AND visible_at <= ? ORDER BY priority, visible_at, id LIMIT ?`,
      ),
      take: db.prepare(
        'UPDATE celeriac_messages SET visible_at = ?, delivery_tag = ?, delivery_count = delivery_count + 1 WHERE id = ?',
      ),
      nextVisible: db
        .prepare('SELECT min(visible_at) FROM celeriac_messages WHERE queue = ? AND visible_at > ?')
        .pluck(),
      ack: db.prepare(`DELETE FROM celeriac_messages ${byTag}`),
      release: db.prepare(`UPDATE celeriac_messages SET delivery_tag = NULL, visible_at = ? ${byTag} RETURNING queue`).pluck(),
      extend: db.prepare(`UPDATE celeriac_messages SET visible_at = ? ${byTag}`),
      bury: db.prepare(
        `INSERT INTO celeriac_dead_letters (queue, exchange, routing_key, priority, payload, reason, delivery_count, dead_at)
         SELECT queue, exchange, routing_key, priority, payload, ?, delivery_count, ? FROM celeriac_messages ${byTag}`,
      ),
      deadCount: db.prepare('SELECT count(*) FROM celeriac_dead_letters WHERE queue = ?').pluck(),
      purge: db.prepare('DELETE FROM celeriac_messages WHERE queue = ? AND visible_at <= ?'),
      size: db.prepare('SELECT count(*) FROM celeriac_messages WHERE queue = ? AND visible_at <= ?').pluck(),
      bind: db.prepare('INSERT OR IGNORE INTO celeriac_bindings (exchange, routing_key, queue) VALUES (?, ?, ?)'),
      lookup: db.prepare('SELECT queue FROM celeriac_bindings WHERE exchange = ? AND routing_key = ? ORDER BY queue').pluck(),
    };
    this.reserveTx = db.transaction((queues: string[], max: number): Picked[] => {
      const now = Date.now(); // read inside the transaction: the write lock may have taken a while
      const candidates: (CandidateRow & { order: number })[] = [];
      queues.forEach((queue, order) => {
        for (const row of this.sql.candidates.all(queue, now, max) as CandidateRow[]) candidates.push({ ...row, order });
      });
      // kombu's BRPOP key order: priority first, then the current queue rotation (stable sort keeps FIFO).
      candidates.sort((a, b) => a.priority - b.priority || a.order - b.order);
      return candidates.slice(0, max).map(({ order: _order, ...row }) => {
        const tag = `${row.id}.${randomUUID()}`;
        this.sql.take.run(now + this.visibilityMs, tag, row.id);
        return { ...row, tag };
      });
    }).immediate;
  }

  async put(queue: string, message: TransportMessage, meta: StoredMessageMeta, deliverAt: Date | null): Promise<void> {
    const now = Date.now();
    const payload = encodeEnvelope(message, { exchange: meta.exchange, routingKey: meta.routingKey, priority: meta.priority });
    const visibleAt = Math.max(now, deliverAt?.getTime() ?? now);
    this.sql.insert.run(queue, meta.priority, meta.exchange, meta.routingKey, payload, visibleAt, now);
    this.hub.emit(PUT_EVENT, queue);
  }

  reserve(queues: string[], max: number, waitMs: number, signal: AbortSignal): Promise<ReservedMessage[]> {
    const unique = [...new Set(queues)];
    return reserveWithWait({
      attempt: () => this.attempt(unique, max),
      // Other processes cannot announce their puts: look again every polling interval.
      nextWakeAt: (now) => Math.min(now + this.pollMs, this.nextVisible(unique, now) ?? Infinity),
      emitter: this.hub,
      queues: unique,
      waitMs,
      signals: [signal, this.closing.signal],
    });
  }

  async ack(tag: string): Promise<void> {
    const id = tagId(tag);
    if (id !== null) this.sql.ack.run(id, tag);
  }

  async requeue(tag: string): Promise<void> {
    this.release(tag, Date.now());
  }

  async defer(tag: string, when: Date): Promise<void> {
    this.release(tag, when.getTime());
  }

  async extend(tag: string, seconds: number): Promise<void> {
    const id = tagId(tag);
    if (id !== null) this.sql.extend.run(Date.now() + seconds * 1000, id, tag);
  }

  async deadLetter(tag: string, reason: string): Promise<void> {
    const id = tagId(tag);
    if (id !== null) this.bury(id, tag, reason);
  }

  async deadLetterCount(queue: string): Promise<number> {
    return this.sql.deadCount.get(queue) as number;
  }

  async purge(queue: string): Promise<number> {
    return this.sql.purge.run(queue, Date.now()).changes;
  }

  async size(queue: string): Promise<number> {
    return this.sql.size.get(queue, Date.now()) as number;
  }

  async bind(binding: Binding): Promise<void> {
    this.sql.bind.run(binding.exchange, binding.routingKey, binding.queue);
  }

  async lookup(exchange: string, routingKey: string): Promise<string[]> {
    return this.sql.lookup.all(exchange, routingKey) as string[];
  }

  async publishFanout(exchange: string, routingKey: string, message: TransportMessage): Promise<void> {
    this.fanout.publish(exchange, routingKey, message);
  }

  async subscribeFanout(
    exchange: string,
    onMessage: (message: TransportMessage, routingKey: string) => void,
  ): Promise<() => Promise<void>> {
    const unsubscribe = this.fanout.subscribe(exchange, onMessage);
    return async () => unsubscribe();
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    this.fanout.close();
    releaseHub(this.realPath);
    this.db.close();
  }

  private attempt(queues: string[], max: number): ReservedMessage[] {
    if (this.closing.signal.aborted) return [];
    // A plain read first: idle consumers must not take the write lock every polling interval.
    const now = Date.now();
    if (!queues.some((queue) => this.sql.anyVisible.get(queue, now))) return [];
    const out: ReservedMessage[] = [];
    for (const row of this.reserveTx(queues, max)) {
      const meta = { exchange: row.exchange, routingKey: row.routing_key, priority: row.priority };
      try {
        out.push(reservedFromEnvelope(row.tag, row.queue, meta, row.payload, row.delivery_count));
      } catch (err) {
        // A row no decoder can read would otherwise come back forever: park it with the reason.
        this.bury(row.id, row.tag, `malformed envelope: ${(err as Error).message}`);
        this.options.logger?.warn('broker: dead-lettered a malformed message', { err, queue: row.queue, id: row.id });
      }
    }
    return out;
  }

  private nextVisible(queues: string[], now: number): number | null {
    let next: number | null = null;
    for (const queue of queues) {
      const at = this.sql.nextVisible.get(queue, now) as number | null;
      if (at !== null && (next === null || at < next)) next = at;
    }
    return next;
  }

  private release(tag: string, visibleAt: number): void {
    const id = tagId(tag);
    if (id === null) return;
    const queue = this.sql.release.get(visibleAt, id, tag) as string | undefined;
    if (queue !== undefined) this.hub.emit(PUT_EVENT, queue);
  }

  private bury(id: number, tag: string, reason: string): void {
    this.db.transaction(() => {
      this.sql.bury.run(reason, Date.now(), id, tag);
      this.sql.ack.run(id, tag);
    }).immediate();
  }
}

/** Tags are `<row id>.<uuid>`: the id finds the row by primary key, the uuid proves it is still ours. */
function tagId(tag: string): number | null {
  const dot = tag.indexOf('.');
  const id = dot > 0 ? Number(tag.slice(0, dot)) : NaN;
  return Number.isSafeInteger(id) && id > 0 ? id : null;
}
