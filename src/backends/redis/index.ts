/**
 * `redis://`, `rediss://`, `socket://`, `sentinel://` result backend: Celery's Redis layout, shared
 * with Python Celery (celery-reference §3). Results wait on pub/sub, chords join natively.
 */
import { connectOrClose, parseRedisUrl, type RedisConnectionSpec } from '../../brokers/redis/connection.js';
import { readOption } from '../../brokers/virtual/options.js';
import { ConfigurationError } from '../../errors.js';
import { groupKey, KeyValueResultBackend, type ResultCodec } from '../keyvalue.js';
import { CHORD_PART_RETURN, decodeChordPart, encodeChordPart, type ChordPart, type ChordPartInput } from './chord.js';
import { RedisKeyValueStore } from './redis-store.js';

export { RedisKeyValueStore } from './redis-store.js';
export { encodeChordPart, decodeChordPart, type ChordPart, type ChordPartInput } from './chord.js';

export const REDIS_BACKEND_SCHEMES = ['redis', 'rediss', 'socket', 'redis+socket', 'sentinel'] as const;

const SETTING = 'result_backend_transport_options';

export interface RedisBackendOptions {
  resultExpires?: number | null;
  codec?: ResultCodec;
  onError?(message: string, err: Error): void;
  [option: string]: unknown;
}

export class RedisResultBackend extends KeyValueResultBackend {
  /** Celery's `supports_native_join`: chords count their parts in Redis, no `chord_unlock` task. */
  readonly supportsNativeJoin = true;

  constructor(
    url: string,
    private readonly connection: RedisConnectionSpec,
    private readonly keyPrefix: string,
    options: RedisBackendOptions,
  ) {
    super({
      backend: 'redis',
      url,
      resultExpires: options.resultExpires,
      codec: options.codec,
      open: async () => {
        const store = new RedisKeyValueStore({ connection: this.connection, keyPrefix: this.keyPrefix, onError: options.onError });
        store.client.defineCommand('celeriacChordPartReturn', { lua: CHORD_PART_RETURN, numberOfKeys: 3 });
        return connectOrClose(store);
      },
    });
  }

  /** `set_chord_size`: `celery-taskset-meta-<gid>.s` = header size (SET + PUBLISH, like any value). */
  async setChordSize(groupId: string, size: number): Promise<void> {
    await (await this.redisStore()).set(`${groupKey(groupId)}.s`, String(size), this.resultExpires);
  }

  /** `add_to_chord`: one more header task than `.s` said. */
  async incrementChordSize(groupId: string): Promise<void> {
    const store = await this.redisStore();
    await store.client.incr(store.key(`${groupKey(groupId)}.t`));
  }

  /**
   * Record a finished header task. Resolves with every part, in header order, for the one call that
   * completes the chord, else null. The caller sends the body, then calls `deleteChord`.
   */
  async chordPartReturn(part: ChordPartInput): Promise<ChordPart[] | null> {
    const store = await this.redisStore();
    const base = store.key(groupKey(part.groupId));
    const client = store.client as typeof store.client & {
      celeriacChordPartReturn(j: string, t: string, s: string, part: string, score: string, ttl: number): Promise<string[] | number[]>;
    };
    const score = part.groupIndex === null ? '+inf' : String(part.groupIndex);
    const ttl = this.resultExpires ? Math.ceil(this.resultExpires) : 0;
    const reply = await client.celeriacChordPartReturn(`${base}.j`, `${base}.t`, `${base}.s`, encodeChordPart(part), score, ttl);
    if (Number(reply[0]) !== 1) return null;
    return (reply.slice(1) as string[]).map(decodeChordPart);
  }

  /** Celery deletes `.j`, `.t` and `.s` once the body is sent. */
  async deleteChord(groupId: string): Promise<void> {
    const store = await this.redisStore();
    const base = store.key(groupKey(groupId));
    await store.client.del(`${base}.j`, `${base}.t`, `${base}.s`);
  }

  private async redisStore(): Promise<RedisKeyValueStore> {
    return (await this.getStore()) as RedisKeyValueStore;
  }
}

/** Celery appends `_` to a backend key prefix that does not end in one of `:_-.`. */
export function normaliseKeyPrefix(prefix: unknown): string {
  if (prefix === undefined || prefix === null || prefix === '') return '';
  if (typeof prefix !== 'string') throw new ConfigurationError(`${SETTING}.globalKeyprefix`, `expected a string, got ${JSON.stringify(prefix)}`);
  return /[:_.-]$/.test(prefix) ? prefix : `${prefix}_`;
}

export function createRedisBackend(url: string, options: RedisBackendOptions = {}): RedisResultBackend {
  const connection = parseRedisUrl(url, options, 'result_backend', SETTING);
  const query = url.includes('?') ? new URLSearchParams(url.slice(url.indexOf('?') + 1)) : new URLSearchParams();
  if (url.toLowerCase().startsWith('rediss:') && !query.has('ssl_cert_reqs') && readOption(options, 'ssl') === undefined) {
    // Celery's backend refuses a rediss:// URL that does not say how to check certificates.
    throw new ConfigurationError('result_backend', 'a rediss:// result backend URL needs ssl_cert_reqs=required|optional|none');
  }
  return new RedisResultBackend(url, connection, normaliseKeyPrefix(readOption(options, 'globalKeyprefix')), options);
}
