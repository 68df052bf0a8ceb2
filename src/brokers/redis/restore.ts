/**
 * kombu's `QoS.restore_visible` for our Redis broker: messages in `unacked_index` whose score is
 * older than the visibility timeout go back to their queue, marked redelivered, under the same
 * `unacked_mutex` a Python worker takes, so the two never restore the same message twice.
 *
 * Two things make it safe where kombu is not (celery#4400, kombu#337):
 * - a live worker keeps re-scoring what it still holds (`extend`), so only a dead worker's
 *   messages ever look old;
 * - a deferred ETA message is scored `eta - visibilityTimeout`, so this same restore brings it back
 *   when it is due, with no copy held in memory; a Python worker's restore would do the same.
 * The scan runs when the earliest entry becomes due, and at least every `maxIntervalMs`.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { isRecord, markEnvelopeRedelivered } from '../../protocol/envelope.js';
import { loads } from '../../protocol/pyjson.js';
import type { BrokerLogger } from '../virtual/options.js';
import type { RedisLayout } from './layout.js';
import type { BrokerScripts } from './scripts.js';

export interface UnackedRestorerOptions {
  client: Redis & BrokerScripts;
  layout: RedisLayout;
  /** Seconds. */
  visibilityTimeout: number;
  /** Queues a message published to `exchange` with `routingKey` goes to. */
  lookup(exchange: string, routingKey: string): Promise<string[]>;
  /** Longest pause between scans, ms. */
  maxIntervalMs: number;
  /** kombu's `unacked_mutex_expire`, ms. */
  mutexExpireMs: number;
  /** Entries restored per scan round (kombu's `unacked_restore_limit`). */
  batch: number;
  logger?: BrokerLogger;
}

export class UnackedRestorer {
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private running: Promise<void> | null = null;
  private stopped = false;
  private started = false;

  constructor(private readonly options: UnackedRestorerOptions) {}

  /** Start scanning (consumers only: a process that only publishes never restores). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.wakeAt(Date.now());
  }

  /** Make sure a scan happens no later than `ms` (epoch ms), e.g. when a deferred ETA falls due. */
  wakeAt(ms: number): void {
    if (!this.started || this.stopped || ms >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = ms;
    this.timer = setTimeout(() => void this.runScan(), Math.max(0, ms - Date.now()));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One restore pass now; resolves with how many messages went back. */
  async scanOnce(): Promise<number> {
    const { client, layout, mutexExpireMs } = this.options;
    const token = randomUUID();
    const locked = await client.set(layout.unackedMutex, token, 'PX', mutexExpireMs, 'NX');
    if (locked !== 'OK') return 0; // someone (maybe a Python worker) is restoring right now
    let restored = 0;
    try {
      for (;;) {
        const ceil = Date.now() / 1000 - this.options.visibilityTimeout;
        const tags = await client.zrangebyscore(layout.unackedIndex, '-inf', ceil, 'LIMIT', 0, this.options.batch);
        if (tags.length === 0) break;
        const values = await client.hmget(layout.unacked, ...tags);
        for (let i = 0; i < tags.length; i++) restored += await this.restoreOne(tags[i] as string, values[i] ?? null);
        if (tags.length < this.options.batch) break;
      }
      restored += await this.restoreHolds();
    } finally {
      await client.celeriacReleaseLock(layout.unackedMutex, token);
    }
    return restored;
  }

  /**
   * Holds (scripts.ts `take`) older than the visibility timeout: their worker took the messages and
   * died before recording them. Each goes back to the front of its list, as an unacked message would.
   */
  private async restoreHolds(): Promise<number> {
    const { client, layout } = this.options;
    const ceil = Date.now() / 1000 - this.options.visibilityTimeout;
    const holds = await client.zrangebyscore(layout.holds, '-inf', ceil, 'LIMIT', 0, this.options.batch);
    let restored = 0;
    for (const hold of holds) {
      // In list order, so pushing each to the front leaves the oldest (last) next, as before.
      const payloads = await client.lrange(hold, 0, -1);
      const lists: string[] = [];
      const values: string[] = [];
      let back = 0;
      for (const payload of payloads) {
        try {
          const envelope = loads(payload);
          if (!isRecord(envelope)) throw new Error('not a JSON object');
          const props = isRecord(envelope.properties) ? envelope.properties : {};
          const info = isRecord(props.delivery_info) ? props.delivery_info : {};
          const target = await this.targetOf(envelope, info.exchange, info.routing_key);
          if (target.lists.length === 0) throw new Error('no queue bound for its exchange and routing key');
          back++;
          for (const list of target.lists) {
            lists.push(list);
            values.push(target.payload);
          }
        } catch (err) {
          // (Pushed like the restored messages, so untrimmed: only a dead worker's unreadable payloads land here.)
          lists.push(layout.deadLetterKey('unknown'));
          values.push(layout.deadLetterEntry(`could not restore a held message: ${(err as Error).message}`, payload));
        }
      }
      if ((await client.celeriacRestoreHold(lists.length + 2, layout.holds, hold, ...lists, hold, ...values)) === 1) restored += back;
    }
    return restored;
  }

  private async runScan(): Promise<void> {
    this.timer = null;
    this.timerAt = Infinity;
    if (this.stopped) return;
    let retryAt = Date.now() + this.options.maxIntervalMs;
    this.running = (async () => {
      try {
        const restored = await this.scanOnce();
        if (restored > 0) this.options.logger?.warn(`broker: restored ${restored} unacknowledged message(s)`);
        const next = await this.nextDue();
        if (next !== null) retryAt = Math.min(retryAt, Math.max(next, Date.now() + 50));
      } catch (err) {
        // Redis away: try again soon; the consumer's own errors say what is wrong.
        retryAt = Math.min(retryAt, Date.now() + 1000);
        this.options.logger?.warn('broker: restoring unacknowledged messages failed; will retry', { err });
      }
    })();
    await this.running;
    this.running = null;
    this.wakeAt(retryAt);
  }

  /** When the earliest unacked entry becomes restorable (epoch ms), or null when there is none. */
  private async nextDue(): Promise<number | null> {
    const first = await this.options.client.zrange(this.options.layout.unackedIndex, 0, '0', 'WITHSCORES');
    if (first.length < 2) return null;
    return (Number(first[1]) + this.options.visibilityTimeout) * 1000;
  }

  private async restoreOne(tag: string, value: string | null): Promise<number> {
    const { client, layout } = this.options;
    if (value === null) {
      // An index entry without its message (acked half-way): drop it, as kombu's restore does.
      await client.celeriacRestore(2, layout.unacked, layout.unackedIndex, tag, '', '', 'front');
      return 0;
    }
    let target: { lists: string[]; payload: string } | null = null;
    let reason = '';
    try {
      target = await this.target(value);
      if (target.lists.length === 0) reason = 'restore found no queue bound for its exchange and routing key';
    } catch (err) {
      reason = `unreadable unacked entry: ${(err as Error).message}`;
    }
    if (!target || target.lists.length === 0) {
      // kombu would drop it; keep it where it can be inspected instead.
      const queue = deadQueueOf(value);
      await client.celeriacDeadLetter(layout.unacked, layout.unackedIndex, layout.deadLetterKey(queue), tag, reason, 10_000, value);
      this.options.logger?.warn('broker: an unacknowledged message could not be restored and was dead-lettered', { tag, reason });
      return 0;
    }
    const keys = [layout.unacked, layout.unackedIndex, ...target.lists];
    return client.celeriacRestore(keys.length, ...keys, tag, value, target.payload, 'front');
  }

  private async target(value: string): Promise<{ lists: string[]; payload: string }> {
    const entry = loads(value);
    if (!Array.isArray(entry) || entry.length < 3 || !isRecord(entry[0])) throw new Error('not [envelope, exchange, routing_key]');
    const [envelope, exchange, routingKey] = entry as [Record<string, unknown>, unknown, unknown];
    return this.targetOf(envelope, exchange, routingKey);
  }

  /** Where kombu's restore sends an envelope published with `exchange` and `routingKey`, and its redelivered text. */
  private async targetOf(envelope: Record<string, unknown>, exchange: unknown, routingKey: unknown): Promise<{ lists: string[]; payload: string }> {
    const ex = typeof exchange === 'string' ? exchange : '';
    const rk = typeof routingKey === 'string' ? routingKey : '';
    const queues = ex === '' ? (rk ? [rk] : []) : await this.options.lookup(ex, rk);
    const props = isRecord(envelope.properties) ? envelope.properties : {};
    const priority = typeof props.priority === 'number' ? Math.min(9, Math.max(0, props.priority)) : 0;
    const payload = markEnvelopeRedelivered(envelope, randomUUID());
    return { lists: queues.map((q) => this.options.layout.listKey(q, priority)), payload };
  }
}

function deadQueueOf(value: string): string {
  try {
    const entry = loads(value);
    if (Array.isArray(entry) && typeof entry[2] === 'string' && entry[2]) return entry[2];
  } catch {
    // fall through
  }
  return 'unknown';
}
