/**
 * The pub/sub side of the Redis result store: one subscriber connection shared by every waiter,
 * one channel per awaited key (Celery's layout: the channel is named like the key), subscribed
 * while someone waits and unsubscribed when the last waiter leaves.
 *
 * Besides waiters there are watches (Celery's `on_task_call`): a channel subscribed as its task is
 * sent, so that a `get()` that follows is already listening.
 *
 * A result may be stored before its channel's subscription is live, so each SUBSCRIBE is followed by
 * a GET of the key on the same connection, in the same write (RESP3 allows commands on a subscribed
 * connection, and Redis runs one connection's commands in order): a null reply means any later
 * result will be published to us. On a lone round trip this is one socket write where a subscribe,
 * its confirmation and a read on the other connection were two writes and a wait; each write costs
 * tens of microseconds on a small VM. Unsubscribes wait a little and go out with the next subscribe,
 * for the same reason. Over RESP2 (a subscribed connection runs no GET) waiters read the key
 * themselves once the subscription is confirmed.
 *
 * Channels under `patternPrefix` (the results of this process's own task ids, see `taskId`) are
 * heard on one `PSUBSCRIBE <prefix>*` instead, kept while any of them is awaited or watched and
 * dropped shortly after the last: a lone call then costs the client no subscription writes at all.
 * A watch made while the pattern is confirmed needs nothing sent (its task is sent after it); any
 * other channel under the pattern is read once the pattern is written, as a new subscription is.
 */
import type { Redis } from 'ioredis';
import { inOneWrite } from '../../brokers/redis/connection.js';

export type Listener = (value?: string) => void;

// A read's outcome as a value (an error included), so one failed GET does not hide the others.
const ok = <T>(value: T): T => value;
const failed = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/** How long a channel subscribed at call time waits for a `get()` or a result before it is dropped. */
export const WATCH_TTL_MS = 30_000;
/** At most this many call-time subscriptions at once; beyond, calls are not watched. */
const MAX_WATCHED = 10_000;

/** Unsubscribes wait this long for a subscribe to share a write with (none is needed for correctness). */
const UNSUBSCRIBE_DELAY_MS = 20;
/** ...unless this many are waiting. */
const UNSUBSCRIBE_BATCH = 1000;
/**
 * The pattern is kept this long after its last channel is released: a client calling now and then
 * (a web handler, say) keeps it between calls instead of subscribing again for each burst, and a
 * client that stopped waiting soon stops receiving its tasks' results (each costs a parse and a
 * map lookup, nothing more).
 */
const PATTERN_IDLE_MS = 1000;
/**
 * Results that came before anyone waited (a watched task finished before its `get()`), kept for the
 * waiter that usually follows so it need not read the key (a round trip): at most this many, this
 * many bytes in all, each at most MAX_EARLY_VALUE, and no longer than the watch time.
 */
const MAX_EARLY = 1000;
const MAX_EARLY_BYTES = 1 << 20;
const MAX_EARLY_VALUE = 64 << 10;

interface Watch {
  expires: number;
}

export interface ResultChannelsOptions {
  /** Opens the subscriber connection; `onReconnect` runs after each reconnect. */
  openSubscriber(onReconnect: () => void): Redis;
  watchTtlMs?: number;
  onError?(message: string, err: Error): void;
  /** Channels starting with this are heard on one pattern subscription (no glob characters needed). */
  patternPrefix?: string;
}

export class ResultChannels {
  private subscriber: Redis | null = null;
  private readonly listeners = new Map<string, Set<Listener>>();
  /** The last value each subscribed channel delivered, for a waiter that joins after it. */
  private readonly delivered = new Map<string, string>();
  /** Channels subscribed by `watch` that no waiter has taken over yet. Insertion order is expiry order. */
  private readonly watched = new Map<string, Watch>();
  private watchSweep: NodeJS.Timeout | null = null;
  /** Subscribed (and read) by the next flush. */
  private readonly subscribing = new Set<string>();
  /** Nobody listens any more: unsubscribed by the next flush. */
  private readonly unsubscribing = new Set<string>();
  private flushScheduled = false;
  private unsubscribeTimer: NodeJS.Timeout | null = null;
  /** False once the subscriber connection refused a GET (RESP2): waiters then read for themselves. */
  private readsOnSubscriber = true;
  private closed = false;
  /** `<patternPrefix>*` (glob-escaped), or null without a prefix. */
  private readonly pattern: string | null;
  /** 'wanted': to be sent by the next flush; 'sent': written, not yet confirmed. */
  private patternState: 'off' | 'wanted' | 'sent' | 'live' = 'off';
  /** Channels under the pattern that are awaited or watched. */
  private patternChannels = 0;
  private patternIdle: NodeJS.Timeout | null = null;
  /** Channels under the pattern whose key the next flush reads. */
  private readonly reading = new Set<string>();
  /** When the pattern last lost its last channel (performance.now()), for the idle timer. */
  private patternIdleSince = 0;
  /** Values that arrived before anyone waited on their channel (see MAX_EARLY), oldest first. */
  private readonly early = new Map<string, { value: string; at: number }>();
  private earlyBytes = 0;

  constructor(private readonly options: ResultChannelsOptions) {
    this.pattern = options.patternPrefix ? `${escapeGlob(options.patternPrefix)}*` : null;
  }

  private underPattern(channel: string): boolean {
    return this.pattern !== null && channel.startsWith(this.options.patternPrefix as string);
  }

  /** Channels subscribed now, by waiters or watches (tests and diagnostics). */
  get size(): number {
    return this.listeners.size;
  }

  /**
   * Call `listener` with each value published on `channel` and with the value stored when the
   * subscription went live; without a value when the waiter must read the key itself (RESP2, or
   * after a reconnect).
   */
  onChange(channel: string, listener: Listener): () => void {
    let set = this.listeners.get(channel);
    const entry: Listener = (value) => listener(value);
    if (!set) {
      this.listeners.set(channel, (set = new Set()));
      this.subscribe(channel);
      // Its result came before this waiter: hand it over now. A final value ends the wait within
      // this turn, before the subscription above is written, so nothing is sent at all; any other
      // value is followed by the subscription's own read.
      const early = this.takeEarly(channel);
      if (early !== undefined) {
        this.delivered.set(channel, early);
        queueMicrotask(() => entry(early));
      }
    } else {
      // Already subscribed, by another waiter or a watch this waiter now takes over: its read is
      // made or on its way. Hand over what it already delivered; over RESP2, read now.
      this.watched.delete(channel);
      const value = this.delivered.get(channel);
      if (value !== undefined) queueMicrotask(() => entry(value));
      else if (!this.readsOnSubscriber) queueMicrotask(() => entry());
    }
    set.add(entry);
    return () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(entry) || current.size > 0) return;
      this.release(channel);
    };
  }

  /**
   * Subscribe to a task's channel as the task is sent. Dropped when its result arrives with nobody
   * waiting (a later `get()` then reads the key), or after the watch time.
   */
  watch(channel: string): void {
    if (this.closed || this.listeners.has(channel) || this.watched.size >= MAX_WATCHED) return;
    const ttl = this.options.watchTtlMs ?? WATCH_TTL_MS;
    this.listeners.set(channel, new Set());
    this.watched.set(channel, { expires: Date.now() + ttl });
    this.subscribe(channel, true);
    if (!this.watchSweep) {
      this.watchSweep = setInterval(() => this.dropExpiredWatches(), Math.min(1000, ttl));
      this.watchSweep.unref();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.watched.clear();
    this.delivered.clear();
    this.early.clear();
    if (this.watchSweep) clearInterval(this.watchSweep);
    if (this.unsubscribeTimer) clearTimeout(this.unsubscribeTimer);
    if (this.patternIdle) clearTimeout(this.patternIdle);
    const subscriber = this.subscriber;
    this.subscriber = null;
    await subscriber?.quit().catch(() => subscriber.disconnect());
  }

  private subscribe(channel: string, watch = false): void {
    this.unsubscribing.delete(channel);
    if (this.underPattern(channel)) {
      // (A pending idle timer stays: it finds the pattern in use and stops; see dropPattern.)
      this.patternChannels++;
      // Confirmed before this task is sent: its result will come on the pattern.
      if (watch && this.patternState === 'live') return;
      if (this.patternState === 'off') this.patternState = 'wanted';
      this.reading.add(channel);
    } else {
      this.subscribing.add(channel);
    }
    this.scheduleFlush();
  }

  /**
   * The idle timer: armed when the pattern's last channel is released, not cleared when a channel
   * comes back (a client calling in a loop would set and clear a timer per call); it drops the
   * pattern only once it has had no channel for PATTERN_IDLE_MS.
   */
  private dropPattern(): void {
    this.patternIdle = null;
    if (this.patternChannels > 0 || this.patternState === 'off' || this.closed) return;
    const idleFor = performance.now() - this.patternIdleSince;
    if (idleFor < PATTERN_IDLE_MS) {
      this.armPatternIdle(Math.ceil(PATTERN_IDLE_MS - idleFor));
      return;
    }
    const wasWritten = this.patternState !== 'wanted';
    this.patternState = 'off';
    if (wasWritten && this.subscriber && this.pattern) this.subscriber.punsubscribe(this.pattern).catch(() => undefined);
  }

  private armPatternIdle(ms: number): void {
    this.patternIdle = setTimeout(() => this.dropPattern(), ms);
    // (It only tidies up: a process with nothing else to do need not wait for it.)
    this.patternIdle.unref();
  }

  /** Nobody listens on `channel` any more: unsubscribe soon, with other changes. */
  private release(channel: string): void {
    this.watched.delete(channel);
    this.delivered.delete(channel);
    if (!this.listeners.delete(channel)) return;
    if (this.underPattern(channel)) {
      this.reading.delete(channel);
      if (--this.patternChannels === 0) {
        this.patternIdleSince = performance.now();
        if (!this.patternIdle) this.armPatternIdle(PATTERN_IDLE_MS);
      }
      return;
    }
    // (If it was never subscribed, the UNSUBSCRIBE is a no-op that shares a write with others.)
    this.subscribing.delete(channel);
    this.unsubscribing.add(channel);
    if (this.unsubscribing.size >= UNSUBSCRIBE_BATCH) this.scheduleFlush();
    else if (!this.unsubscribeTimer) this.unsubscribeTimer = setTimeout(() => this.scheduleFlush(), UNSUBSCRIBE_DELAY_MS);
  }

  /**
   * After this turn (not while a result is being handed to its waiters), one write: pending
   * unsubscribes, then the new subscriptions, then a read of each new channel's key.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.unsubscribeTimer) clearTimeout(this.unsubscribeTimer);
    this.unsubscribeTimer = null;
    // A channel listened to again meanwhile stays subscribed.
    const unsubscribe = [...this.unsubscribing].filter((c) => !this.listeners.has(c));
    const subscribe = [...this.subscribing];
    const read = [...subscribe, ...this.reading];
    const pattern = this.patternState === 'wanted' ? this.pattern : null;
    this.unsubscribing.clear();
    this.subscribing.clear();
    this.reading.clear();
    if (this.closed || (!unsubscribe.length && !read.length && !pattern)) return;
    if (!read.length && !pattern && !this.subscriber) return;
    // One write of plain commands (an ioredis pipeline object per round trip made most of a lone
    // client's GC work).
    const subscriber = this.connection();
    const [subscribed, reads] = inOneWrite(subscriber, () => {
      if (unsubscribe.length) subscriber.unsubscribe(...unsubscribe).catch(() => undefined);
      const confirmations: Promise<unknown>[] = [];
      if (subscribe.length) confirmations.push(subscriber.subscribe(...subscribe));
      if (pattern) confirmations.push(subscriber.psubscribe(pattern));
      const all = confirmations.length === 1 ? confirmations[0]! : Promise.all(confirmations);
      return [all, read.length && this.readsOnSubscriber ? read.map((channel) => subscriber.get(channel).then(ok, failed)) : null] as const;
    });
    if (pattern) {
      this.patternState = 'sent';
      subscribed.then(
        () => {
          if (this.patternState === 'sent') this.patternState = 'live';
        },
        () => {
          if (this.patternState === 'sent') this.patternState = 'off';
        },
      );
    }
    subscribed.then(
      async () => {
        if (!reads) {
          for (const channel of read) this.notify(channel); // RESP2: the waiters read
          return;
        }
        const values = await Promise.all(reads);
        for (let i = 0; i < read.length; i++) {
          const channel = read[i]!;
          const value = values[i];
          if (value instanceof Error) {
            // A subscribed RESP2 connection runs no GET: from now on waiters read for themselves.
            this.readsOnSubscriber = false;
            this.notify(channel);
          } else if (typeof value === 'string') {
            this.notify(channel, value);
          }
        }
      },
      (err: Error) => this.subscribeFailed(read, err),
    );
  }

  private subscribeFailed(channels: string[], err: Error): void {
    this.options.onError?.('subscribing to a result channel failed', err);
    for (const channel of channels) this.notify(channel); // waiters read at least once
  }

  private notify(channel: string, value?: string): void {
    const listeners = this.listeners.get(channel);
    if (!listeners) return;
    // A watched channel's result arrived before anyone waited: drop the watch, keeping the value
    // for the get() that usually follows.
    if (listeners.size === 0 && value !== undefined && this.watched.has(channel)) {
      this.keepEarly(channel, value);
      return this.release(channel);
    }
    if (value !== undefined) this.delivered.set(channel, value);
    for (const listener of [...listeners]) listener(value);
  }

  private keepEarly(channel: string, value: string): void {
    this.dropEarly(channel);
    if (value.length > MAX_EARLY_VALUE) return;
    const now = performance.now();
    const ttl = this.options.watchTtlMs ?? WATCH_TTL_MS;
    // Oldest first: past the watch time, or beyond the count or byte bound.
    for (const [oldest, entry] of this.early) {
      if (now - entry.at < ttl && this.early.size < MAX_EARLY && this.earlyBytes + value.length <= MAX_EARLY_BYTES) break;
      this.dropEarly(oldest);
    }
    this.early.set(channel, { value, at: now });
    this.earlyBytes += value.length;
  }

  private takeEarly(channel: string): string | undefined {
    const entry = this.early.get(channel);
    if (!entry) return undefined;
    this.dropEarly(channel);
    return performance.now() - entry.at < (this.options.watchTtlMs ?? WATCH_TTL_MS) ? entry.value : undefined;
  }

  private dropEarly(channel: string): void {
    const entry = this.early.get(channel);
    if (!entry) return;
    this.early.delete(channel);
    this.earlyBytes -= entry.value.length;
  }

  private dropExpiredWatches(): void {
    const now = Date.now();
    for (const [channel, watch] of this.watched) {
      if (watch.expires > now) break;
      this.release(channel);
    }
    if (this.watched.size === 0 && this.watchSweep) {
      clearInterval(this.watchSweep);
      this.watchSweep = null;
    }
  }

  private connection(): Redis {
    if (this.subscriber) return this.subscriber;
    const subscriber = this.options.openSubscriber(() => {
      // Reconnected (ioredis re-subscribes by itself): results published meanwhile were missed, re-read.
      this.early.clear();
      this.earlyBytes = 0;
      for (const channel of this.listeners.keys()) this.notify(channel);
    });
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.notify(channel.toString(), message.toString()));
    subscriber.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => this.notify(channel.toString(), message.toString()));
    this.subscriber = subscriber;
    return subscriber;
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
