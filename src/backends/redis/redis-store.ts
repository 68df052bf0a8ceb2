/**
 * The Redis key-value store under the Redis result backend, in Celery's layout
 * (celery-reference §3.1, §3.3): values at `celery-task-meta-<id>`, each write also PUBLISHed on a
 * channel named like the key. Waiters share one subscriber connection, one channel per awaited
 * key, unsubscribed when the last waiter leaves; after a reconnect every waiter re-reads its key.
 */
import type { Redis } from 'ioredis';
import { openRedis, type RedisConnectionSpec } from '../../brokers/redis/connection.js';
import type { KeyValueStore } from '../keyvalue.js';

/**
 * setResult: Celery's `_store_result` guard plus `_set` as one step.
 *   KEYS[1] result key; ARGV[1] value; ARGV[2] ttl in ms (0 = keep)
 *   returns 0 when a stored SUCCESS was kept, 1 when written (and published on KEYS[1])
 */
const SET_RESULT = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, meta = pcall(cjson.decode, current)
  if ok and type(meta) == 'table' and meta.status == 'SUCCESS' then return 0 end
end
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
`;

export interface RedisStoreOptions {
  connection: RedisConnectionSpec;
  /** Celery's `result_backend_transport_options.global_keyprefix`, already normalised. */
  keyPrefix: string;
  onError?(message: string, err: Error): void;
}

type Listener = (value?: string) => void;

export class RedisKeyValueStore implements KeyValueStore {
  readonly client: Redis & { celeriacSetResult(key: string, value: string, ttl: number): Promise<number> };
  private subscriber: Redis | null = null;
  private readonly listeners = new Map<string, Set<Listener>>();
  private closed = false;

  constructor(private readonly options: RedisStoreOptions) {
    const client = this.open('main');
    client.defineCommand('celeriacSetResult', { lua: SET_RESULT, numberOfKeys: 1 });
    this.client = client as RedisKeyValueStore['client'];
  }

  /** Prefixed key name (Celery's `get_key_for_task` with the global prefix). */
  key(name: string): string {
    return this.options.keyPrefix + name;
  }

  async connect(): Promise<void> {
    if (this.client.status === 'wait') await this.client.connect();
  }

  async get(key: string): Promise<string | null> {
    return this.client.get(this.key(key));
  }

  async mget(keys: string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    return this.client.mget(...keys.map((k) => this.key(k)));
  }

  async set(key: string, value: string, ttlSeconds: number | null): Promise<void> {
    const full = this.key(key);
    const multi = this.client.multi();
    // SETEX as Celery's `_set`; sub-second expiries (tests) need PX.
    if (ttlSeconds && Number.isInteger(ttlSeconds)) multi.setex(full, ttlSeconds, value);
    else if (ttlSeconds) multi.set(full, value, 'PX', Math.ceil(ttlSeconds * 1000));
    else multi.set(full, value);
    multi.publish(full, value);
    await multi.exec();
  }

  async setResult(key: string, value: string, ttlSeconds: number | null): Promise<void> {
    await this.client.celeriacSetResult(this.key(key), value, ttlSeconds ? Math.ceil(ttlSeconds * 1000) : 0);
  }

  async delete(key: string): Promise<void> {
    await this.client.del(this.key(key));
  }

  onChange(key: string, listener: Listener): () => void {
    const channel = this.key(key);
    let set = this.listeners.get(channel);
    const entry: Listener = (value) => listener(value);
    if (!set) {
      this.listeners.set(channel, (set = new Set()));
      const subscriber = this.subscriberConnection();
      // Once the subscription is live, announce a (spurious) change: a result written between the
      // caller's first read and the SUBSCRIBE would otherwise never be seen.
      subscriber.subscribe(channel).then(
        () => this.notify(channel),
        (err: Error) => this.options.onError?.('subscribing to a result channel failed', err),
      );
    } else {
      queueMicrotask(() => entry());
    }
    set.add(entry);
    return () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(entry) || current.size > 0) return;
      this.listeners.delete(channel);
      if (this.subscriber && !this.closed) void this.subscriber.unsubscribe(channel).catch(() => undefined);
    };
  }

  /** Channels currently subscribed for waiters (tests and diagnostics). */
  get watchedKeys(): number {
    return this.listeners.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    const subscriber = this.subscriber;
    this.subscriber = null;
    await Promise.all([
      subscriber?.quit().catch(() => subscriber.disconnect()),
      this.client.quit().catch(() => this.client.disconnect()),
    ]);
  }

  private subscriberConnection(): Redis {
    if (this.subscriber) return this.subscriber;
    const subscriber = this.open('subscriber', () => {
      // Reconnected (ioredis re-subscribes by itself): results published meanwhile were missed, re-read.
      for (const channel of this.listeners.keys()) this.notify(channel);
    });
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.notify(channel.toString(), message.toString()));
    this.subscriber = subscriber;
    return subscriber;
  }

  private notify(channel: string, value?: string): void {
    for (const listener of [...(this.listeners.get(channel) ?? [])]) listener(value);
  }

  private open(role: string, onReconnect?: () => void): Redis {
    const redis = openRedis(this.options.connection, role === 'main' ? {} : { enableAutoPipelining: false });
    let down = false;
    let connectedOnce = false;
    redis.on('error', (err: Error) => {
      if (down || this.closed) return;
      down = true;
      this.options.onError?.(`Redis ${role} connection error; reconnecting`, err);
    });
    redis.on('ready', () => {
      down = false;
      if (connectedOnce) onReconnect?.();
      connectedOnce = true;
    });
    return redis;
  }
}
