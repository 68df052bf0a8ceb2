/**
 * The Redis key-value store under the Redis result backend, in Celery's layout
 * (celery-reference §3.1, §3.3): values at `celery-task-meta-<id>`, each write also PUBLISHed on a
 * channel named like the key. Waiters share one subscriber connection, one channel per awaited
 * key, unsubscribed when the last waiter leaves; after a reconnect every waiter re-reads its key.
 */
import type { Redis } from 'ioredis';
import { inOneWrite, openRedis, type RedisConnectionSpec } from '../../brokers/redis/connection.js';
import { Batcher } from '../../utils/batcher.js';
import { ResultChannels, type Listener } from './result-channels.js';
import { taskKey, type KeyValueStore, type ScoredMember } from '../keyvalue.js';
import { TASK_ID_PREFIX } from '../../utils/uuid.js';

/**
 * setResults: Celery's `_store_result` guard plus `_set` (SET with expiry, then PUBLISH on the key's
 * own name), atomically, for a batch of results written in the same tick.
 *   KEYS result keys; ARGV[1] ttl in ms (0 = keep); ARGV[1 + i] value for KEYS[i]
 *   returns how many were written (a stored SUCCESS is kept)
 */
const SET_RESULTS = `
local ttl = tonumber(ARGV[1])
local written = 0
-- One MGET for the batch rather than a GET per key (each redis.call is most of the cost).
local CHUNK = 1000
for from = 1, #KEYS, CHUNK do
  local to = math.min(from + CHUNK - 1, #KEYS)
  local current = redis.call('MGET', unpack(KEYS, from, to))
  for i = from, to do
    local key, value, stored = KEYS[i], ARGV[i + 1], current[i - from + 1]
    local keep = false
    if stored then
      local ok, meta = pcall(cjson.decode, stored)
      keep = ok and type(meta) == 'table' and meta.status == 'SUCCESS'
    end
    if not keep then
      if ttl > 0 then redis.call('SET', key, value, 'PX', ttl) else redis.call('SET', key, value) end
      redis.call('PUBLISH', key, value)
      written = written + 1
    end
  end
end
return written
`;

export interface RedisStoreOptions {
  connection: RedisConnectionSpec;
  /** Celery's `result_backend_transport_options.global_keyprefix`, already normalised. */
  keyPrefix: string;
  onError?(message: string, err: Error): void;
  /** How long a call-time subscription waits for a waiter or its result, ms (default WATCH_TTL_MS). */
  watchTtlMs?: number;
}


export class RedisKeyValueStore implements KeyValueStore {
  readonly client: Redis & { celeriacSetResults(...keysThenArgs: (string | number)[]): Promise<number> };
  /** Results stored in one tick with the same expiry go to Redis as one script call. */
  private readonly results = new Batcher<{ key: string; value: string; ttlMs: number }>((batch) => this.setMany(batch), 500, true);
  private readonly channels: ResultChannels;
  private closed = false;
  /** `onChange` reads the key behind each SUBSCRIBE (see ResultChannels and KeyValueStore). */
  readonly coversEarlierValues = true;

  constructor(private readonly options: RedisStoreOptions) {
    const client = this.open('main');
    client.defineCommand('celeriacSetResults', { lua: SET_RESULTS });
    this.client = client as RedisKeyValueStore['client'];
    this.channels = new ResultChannels({
      openSubscriber: (onReconnect) => this.open('subscriber', onReconnect),
      watchTtlMs: options.watchTtlMs,
      onError: options.onError,
      // The results of this process's own task ids (see taskId): one pattern for all of them.
      patternPrefix: this.key(taskKey(`${TASK_ID_PREFIX}-`)),
    });
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

  async addScored(key: string, entries: readonly ScoredMember[]): Promise<void> {
    if (entries.length) await this.client.zadd(this.key(key), ...entries.flatMap((e) => [e.score, e.member]));
  }

  async rangeByScore(key: string, minScore: number): Promise<ScoredMember[]> {
    const flat = await this.client.zrangebyscore(this.key(key), minScore, '+inf', 'WITHSCORES');
    const out: ScoredMember[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ member: flat[i] as string, score: Number(flat[i + 1]) });
    return out;
  }

  async removeByScore(key: string, maxScore: number): Promise<void> {
    await this.client.zremrangebyscore(this.key(key), '-inf', maxScore);
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

  setResult(key: string, value: string, ttlSeconds: number | null): Promise<void> {
    return this.results.add({ key: this.key(key), value, ttlMs: ttlSeconds ? Math.ceil(ttlSeconds * 1000) : 0 });
  }

  private async setMany(batch: { key: string; value: string; ttlMs: number }[]): Promise<void> {
    // One call per distinct expiry (normally one: every result shares result_expires).
    const byTtl = new Map<number, { key: string; value: string }[]>();
    for (const entry of batch) {
      const list = byTtl.get(entry.ttlMs);
      if (list) list.push(entry);
      else byTtl.set(entry.ttlMs, [entry]);
    }
    const calls = [...byTtl];
    const send = ([ttlMs, entries]: [number, { key: string; value: string }[]]) =>
      this.client.celeriacSetResults(entries.length, ...entries.map((e) => e.key), ttlMs, ...entries.map((e) => e.value));
    // No PING ahead of the script: it made Redis write the waiter's message before this worker's
    // reply, but the extra command cost more than the order gained (figures in docs/redis.md).
    if (calls.length === 1) await send(calls[0]!);
    else await inOneWrite(this.client, () => Promise.all(calls.map(send)));
  }

  async delete(key: string): Promise<void> {
    await this.client.del(this.key(key));
  }

  onChange(key: string, listener: Listener): () => void {
    return this.channels.onChange(this.key(key), listener);
  }

  /** Celery's `on_task_call`: subscribe to a task's result channel as it is sent (see ResultChannels). */
  watch(key: string): void {
    if (!this.closed) this.channels.watch(this.key(key));
  }

  /** Channels currently subscribed, for waiters or watches (tests and diagnostics). */
  get watchedKeys(): number {
    return this.channels.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.channels.close(), this.client.quit().catch(() => this.client.disconnect())]);
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
