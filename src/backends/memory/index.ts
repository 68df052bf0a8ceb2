/**
 * `memory://` and `cache+memory://` (Celery's spelling) result backends: an in-process store shared by
 * every backend with the same URL name, with TTL and immediate change notification. For tests and
 * single-process use.
 */
import { ConfigurationError } from '../../errors.js';
import { redactUrl, urlScheme } from '../../utils/url.js';
import { KeyListeners, KeyValueResultBackend, type KeyValueStore, type ResultCodec, type ScoredMember } from '../keyvalue.js';

interface Entry {
  value: string;
  expiresAt: number | null;
}

class MemoryKvState {
  readonly data = new Map<string, Entry>();
  readonly scored = new Map<string, Map<string, number>>();
  readonly listeners = new KeyListeners();
}

const registry = new Map<string, MemoryKvState>();

/** Forget one memory backend's results, or all of them (test isolation). */
export function resetMemoryBackend(name?: string): void {
  if (name === undefined) registry.clear();
  else registry.delete(name);
}

export const MEMORY_BACKEND_SCHEMES = ['memory', 'cache+memory'] as const;

/** Registry name of `memory://name` / `cache+memory://name` (`''` when there is none). */
export function memoryBackendName(url: string): string {
  const scheme = urlScheme(url);
  const rest = scheme ? url.slice(scheme.length) : '';
  if (!scheme || !(MEMORY_BACKEND_SCHEMES as readonly string[]).includes(scheme) || !rest.startsWith('://')) {
    throw new ConfigurationError('result_backend', `expected memory:// or cache+memory://<name>, got ${redactUrl(url)}`);
  }
  return decodeURIComponent(rest.slice(3).replace(/[?#].*$/, '').replace(/^\/+|\/+$/g, ''));
}

export class MemoryKeyValueStore implements KeyValueStore {
  private readonly state: MemoryKvState;

  constructor(name: string) {
    let state = registry.get(name);
    if (!state) registry.set(name, (state = new MemoryKvState()));
    this.state = state;
  }

  async get(key: string): Promise<string | null> {
    return this.read(key, Date.now());
  }

  async mget(keys: string[]): Promise<(string | null)[]> {
    const now = Date.now();
    return keys.map((key) => this.read(key, now));
  }

  async set(key: string, value: string, ttlSeconds: number | null): Promise<void> {
    this.state.data.set(key, { value, expiresAt: ttlSeconds === null ? null : Date.now() + ttlSeconds * 1000 });
    this.state.listeners.notify(key);
  }

  async delete(key: string): Promise<void> {
    if (this.state.data.delete(key)) this.state.listeners.notify(key);
  }

  onChange(key: string, listener: () => void): () => void {
    return this.state.listeners.add(key, listener);
  }

  async addScored(key: string, entries: readonly ScoredMember[]): Promise<void> {
    let set = this.state.scored.get(key);
    if (!set) this.state.scored.set(key, (set = new Map()));
    for (const { member, score } of entries) set.set(member, score);
  }

  async rangeByScore(key: string, minScore: number): Promise<ScoredMember[]> {
    const set = this.state.scored.get(key);
    if (!set) return [];
    return [...set].filter(([, score]) => score >= minScore).map(([member, score]) => ({ member, score })).sort((a, b) => a.score - b.score);
  }

  async removeByScore(key: string, maxScore: number): Promise<void> {
    const set = this.state.scored.get(key);
    for (const [member, score] of set ?? []) if (score <= maxScore) set?.delete(member);
  }

  async cleanup(): Promise<number> {
    const now = Date.now();
    let removed = 0;
    for (const [key, entry] of this.state.data) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) {
        this.state.data.delete(key);
        removed++;
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    // Shared state outlives one backend instance, like kombu's memory transport.
  }

  private read(key: string, now: number): string | null {
    const entry = this.state.data.get(key);
    if (!entry) return null;
    if (entry.expiresAt !== null && entry.expiresAt <= now) {
      this.state.data.delete(key);
      return null;
    }
    return entry.value;
  }
}

export interface MemoryBackendOptions {
  resultExpires?: number | null;
  codec?: ResultCodec;
}

export function createMemoryBackend(url: string, options: MemoryBackendOptions = {}): KeyValueResultBackend {
  const name = memoryBackendName(url);
  return new KeyValueResultBackend({
    backend: 'memory',
    url,
    open: () => new MemoryKeyValueStore(name),
    resultExpires: options.resultExpires,
    codec: options.codec,
  });
}
