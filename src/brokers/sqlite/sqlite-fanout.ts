/**
 * Fanout (events, remote-control broadcasts) over a SQLite file shared by several processes. A
 * publish is a row in `celeriac_fanout`; each subscriber reads rows newer than the last id it saw,
 * at once for publishes from this process and at the polling interval for others. Like Redis PUB/SUB,
 * nothing is kept for later subscribers: rows are pruned after a minute.
 */
import type { EventEmitter } from 'node:events';
import { decodeEnvelope, encodeEnvelope } from '../../protocol/envelope.js';
import type { TransportMessage } from '../../protocol/types.js';
import type { BrokerLogger } from '../virtual/options.js';
import type { SqliteDatabase } from './database.js';

const FANOUT_EVENT = 'fanout';
/** Rows are kept this long: only a subscriber stalled longer than this can miss one. */
const RETAIN_MS = 60_000;
const PRUNE_EVERY_MS = 5_000;
const READ_BATCH = 1000;

interface Sub {
  exchange: string;
  onMessage: (message: TransportMessage, routingKey: string) => void;
  /** Highest row id this subscriber has seen; rows at or below it are not for it. */
  after: number;
}

interface FanoutRow {
  id: number;
  exchange: string;
  routing_key: string;
  payload: string;
}

export class SqliteFanout {
  private readonly subs = new Set<Sub>();
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private lastPrune = 0;
  private readonly onLocalPublish = (): void => this.schedule();
  private readonly insert;
  private readonly prune;
  private readonly maxId;
  private readonly select;

  constructor(
    db: SqliteDatabase,
    private readonly hub: EventEmitter,
    private readonly pollMs: number,
    private readonly logger?: BrokerLogger,
  ) {
    this.insert = db.prepare('INSERT INTO celeriac_fanout (exchange, routing_key, payload, created_at) VALUES (?, ?, ?, ?)');
    this.prune = db.prepare('DELETE FROM celeriac_fanout WHERE created_at < ?');
    this.maxId = db.prepare('SELECT coalesce(max(id), 0) AS id FROM celeriac_fanout').pluck();
    this.select = db.prepare('SELECT id, exchange, routing_key, payload FROM celeriac_fanout WHERE id > ? ORDER BY id LIMIT ?');
  }

  publish(exchange: string, routingKey: string, message: TransportMessage): void {
    const now = Date.now();
    this.insert.run(exchange, routingKey, encodeEnvelope(message, { exchange, routingKey }), now);
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      this.prune.run(now - RETAIN_MS);
    }
    this.hub.emit(FANOUT_EVENT);
  }

  subscribe(exchange: string, onMessage: (message: TransportMessage, routingKey: string) => void): () => void {
    const sub: Sub = { exchange, onMessage, after: this.maxId.get() as number };
    this.subs.add(sub);
    if (!this.timer) {
      this.timer = setInterval(() => this.poll(), this.pollMs);
      this.hub.on(FANOUT_EVENT, this.onLocalPublish);
    }
    return () => {
      this.subs.delete(sub);
      if (this.subs.size === 0) this.stop();
    };
  }

  close(): void {
    this.subs.clear();
    this.stop();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.hub.off(FANOUT_EVENT, this.onLocalPublish);
  }

  /** Coalesce a burst of local publishes into one read on the next turn. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.poll();
    });
  }

  private poll(): void {
    if (this.subs.size === 0) return;
    let rows: FanoutRow[];
    try {
      const from = Math.min(...[...this.subs].map((s) => s.after));
      rows = this.select.all(from, READ_BATCH) as FanoutRow[];
    } catch (err) {
      this.logger?.error('broker: reading fanout messages failed; will retry', { err });
      return;
    }
    for (const row of rows) this.dispatch(row);
    if (rows.length === READ_BATCH) this.schedule();
  }

  private dispatch(row: FanoutRow): void {
    for (const sub of [...this.subs]) {
      if (row.id <= sub.after) continue;
      sub.after = row.id;
      if (sub.exchange !== row.exchange || !this.subs.has(sub)) continue;
      try {
        // Decoded per subscriber: each gets its own copy.
        sub.onMessage(decodeEnvelope(row.payload), row.routing_key);
      } catch (err) {
        this.logger?.error('broker: fanout message could not be delivered', { err, exchange: row.exchange, id: row.id });
      }
    }
  }
}
