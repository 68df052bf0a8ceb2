/**
 * The pub/sub side of the Redis result store: one subscriber connection shared by every waiter,
 * one channel per awaited key (Celery's layout: the channel is named like the key), subscribed
 * while someone waits and unsubscribed when the last waiter leaves.
 *
 * Besides waiters there are watches (Celery's `on_task_call`): a channel subscribed as its task is
 * sent, so that a `get()` that follows is already listening. A waiter taking a watch over reads the
 * key once (the result may have been published before the subscription was live). Unsubscribes go
 * out together after the current turn, not in the middle of handing a result to its waiter.
 * (Reading a watched key as soon as its subscription is live, to spare the waiter its read, was
 * tried: on a lone round trip it cost more, one more socket write in the same window, than it saved.)
 */
import type { Redis } from 'ioredis';

export type Listener = (value?: string) => void;

/** How long a channel subscribed at call time waits for a `get()` or a result before it is dropped. */
export const WATCH_TTL_MS = 30_000;
/** At most this many call-time subscriptions at once; beyond, calls are not watched. */
const MAX_WATCHED = 10_000;

interface Watch {
  expires: number;
}

export interface ResultChannelsOptions {
  /** Opens the subscriber connection; `onReconnect` runs after each reconnect. */
  openSubscriber(onReconnect: () => void): Redis;
  watchTtlMs?: number;
  onError?(message: string, err: Error): void;
}

export class ResultChannels {
  private subscriber: Redis | null = null;
  private readonly listeners = new Map<string, Set<Listener>>();
  /** Channels subscribed by `watch` that no waiter has taken over yet. Insertion order is expiry order. */
  private readonly watched = new Map<string, Watch>();
  private watchSweep: NodeJS.Timeout | null = null;
  private readonly unsubscribing = new Set<string>();
  private unsubscribeScheduled = false;
  private closed = false;

  constructor(private readonly options: ResultChannelsOptions) {}

  /** Channels subscribed now, by waiters or watches (tests and diagnostics). */
  get size(): number {
    return this.listeners.size;
  }

  /** Call `listener` with each value published on `channel`, and once (without a value) when the subscription is live. */
  onChange(channel: string, listener: Listener): () => void {
    let set = this.listeners.get(channel);
    const entry: Listener = (value) => listener(value);
    if (!set) {
      this.listeners.set(channel, (set = new Set()));
      this.subscribe(channel);
    } else {
      // Already subscribed, by another waiter or a watch (which this waiter now takes over): read
      // once now, as a result may have come before the subscription was live.
      this.watched.delete(channel);
      queueMicrotask(() => entry());
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
    this.subscribe(channel);
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
    if (this.watchSweep) clearInterval(this.watchSweep);
    const subscriber = this.subscriber;
    this.subscriber = null;
    await subscriber?.quit().catch(() => subscriber.disconnect());
  }

  private subscribe(channel: string): void {
    this.unsubscribing.delete(channel);
    this.connection()
      .subscribe(channel)
      .then(
        () => this.notify(channel),
        (err: Error) => {
          this.options.onError?.('subscribing to a result channel failed', err);
          this.notify(channel); // waiters read at least once (they skipped their own first read)
        },
      );
  }

  private notify(channel: string, value?: string): void {
    const listeners = this.listeners.get(channel);
    if (!listeners) return;
    // A watched channel's result arrived before anyone waited: drop the watch; a later get() reads the key.
    if (listeners.size === 0 && value !== undefined && this.watched.has(channel)) return this.release(channel);
    for (const listener of [...listeners]) listener(value);
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

  /** Nobody listens on `channel` any more: unsubscribe after this turn, with any others released in it. */
  private release(channel: string): void {
    this.watched.delete(channel);
    if (!this.listeners.delete(channel)) return;
    this.unsubscribing.add(channel);
    if (this.unsubscribeScheduled) return;
    this.unsubscribeScheduled = true;
    setImmediate(() => {
      this.unsubscribeScheduled = false;
      // A channel subscribed again meanwhile stays.
      const channels = [...this.unsubscribing].filter((c) => !this.listeners.has(c));
      this.unsubscribing.clear();
      if (channels.length && this.subscriber && !this.closed) void this.subscriber.unsubscribe(...channels).catch(() => undefined);
    });
  }

  private connection(): Redis {
    if (this.subscriber) return this.subscriber;
    const subscriber = this.options.openSubscriber(() => {
      // Reconnected (ioredis re-subscribes by itself): results published meanwhile were missed, re-read.
      for (const channel of this.listeners.keys()) this.notify(channel);
    });
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.notify(channel.toString(), message.toString()));
    this.subscriber = subscriber;
    return subscriber;
  }
}
