/**
 * `sqlite:///path.db` / `db+sqlite:///path.db` (Celery's spelling) result backend: one table
 * `celeriac_kv(key, value, expires_at)` whose keys are literally `celery-task-meta-<id>`. The file may
 * be the broker's too (all celeriac tables are prefixed `celeriac_`). Waiters are woken at once for
 * writes from this process and, for other processes, when `PRAGMA data_version` moves (checked at the
 * polling interval, only while someone waits).
 */
import type { EventEmitter } from 'node:events';
import { openComponentDatabase, releaseHub, sqlitePathFromUrl, type SqliteDatabase } from '../../brokers/sqlite/database.js';
import { readSeconds } from '../../brokers/virtual/options.js';
import { KeyListeners, KeyValueResultBackend, type KeyValueStore, type ResultCodec, type ScoredMember } from '../keyvalue.js';

const SCHEMA: readonly string[] = [
  `CREATE TABLE celeriac_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER);
   CREATE INDEX celeriac_kv_expires ON celeriac_kv (expires_at) WHERE expires_at IS NOT NULL;`,
  `CREATE TABLE celeriac_scored (key TEXT NOT NULL, member TEXT NOT NULL, score REAL NOT NULL, PRIMARY KEY (key, member));
   CREATE INDEX celeriac_scored_score ON celeriac_scored (key, score);`,
];

const KV_EVENT = 'kv';
/** Expired rows are also swept on writes, at most this often, so a deployment without beat stays small. */
const SWEEP_EVERY_MS = 10 * 60_000;

export const SQLITE_BACKEND_SCHEMES = ['sqlite', 'db+sqlite'] as const;

export interface SqliteStoreOptions {
  file: string;
  /** Seconds between cross-process change checks while someone waits. */
  pollingInterval: number;
}

export class SqliteKeyValueStore implements KeyValueStore {
  private readonly db: SqliteDatabase;
  private readonly realPath: string;
  private readonly hub: EventEmitter;
  private readonly listeners = new KeyListeners();
  /** Last value seen per watched key, to announce only real changes from other processes. */
  private readonly seen = new Map<string, string | null>();
  private dataVersion = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastSweep = Date.now();
  private closed = false;
  private readonly onLocalWrite = (key: string): void => this.listeners.notify(key);
  private readonly sql;

  constructor(private readonly options: SqliteStoreOptions) {
    const { db, realPath, hub } = openComponentDatabase(options.file, 'result_backend', SCHEMA);
    this.db = db;
    this.realPath = realPath;
    this.hub = hub;
    this.sql = {
      get: db.prepare('SELECT value FROM celeriac_kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)').pluck(),
      set: db.prepare(
        `INSERT INTO celeriac_kv (key, value, expires_at) VALUES (?, ?, ?)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
      ),
      delete: db.prepare('DELETE FROM celeriac_kv WHERE key = ?'),
      sweep: db.prepare('DELETE FROM celeriac_kv WHERE expires_at IS NOT NULL AND expires_at <= ?'),
      addScored: db.prepare(
        `INSERT INTO celeriac_scored (key, member, score) VALUES (?, ?, ?)
         ON CONFLICT(key, member) DO UPDATE SET score = excluded.score`,
      ),
      rangeByScore: db.prepare('SELECT member, score FROM celeriac_scored WHERE key = ? AND score >= ? ORDER BY score'),
      removeByScore: db.prepare('DELETE FROM celeriac_scored WHERE key = ? AND score <= ?'),
    };
  }

  async get(key: string): Promise<string | null> {
    return this.read(key);
  }

  async mget(keys: string[]): Promise<(string | null)[]> {
    // One read transaction, so the values are a consistent snapshot.
    return this.db.transaction(() => keys.map((key) => this.read(key)))();
  }

  async set(key: string, value: string, ttlSeconds: number | null): Promise<void> {
    const now = Date.now();
    this.sql.set.run(key, value, ttlSeconds === null ? null : now + Math.round(ttlSeconds * 1000));
    this.hub.emit(KV_EVENT, key);
    if (now - this.lastSweep >= SWEEP_EVERY_MS) {
      this.lastSweep = now;
      this.sql.sweep.run(now);
    }
  }

  async addScored(key: string, entries: readonly ScoredMember[]): Promise<void> {
    this.db.transaction(() => {
      for (const { member, score } of entries) this.sql.addScored.run(key, member, score);
    })();
  }

  async rangeByScore(key: string, minScore: number): Promise<ScoredMember[]> {
    return this.sql.rangeByScore.all(key, minScore) as ScoredMember[];
  }

  async removeByScore(key: string, maxScore: number): Promise<void> {
    this.sql.removeByScore.run(key, maxScore);
  }

  async delete(key: string): Promise<void> {
    if (this.sql.delete.run(key).changes > 0) this.hub.emit(KV_EVENT, key);
  }

  onChange(key: string, listener: () => void): () => void {
    if (this.closed) return () => undefined;
    if (!this.seen.has(key)) this.seen.set(key, this.read(key));
    if (this.listeners.size === 0) this.startWatching();
    const remove = this.listeners.add(key, listener);
    return () => {
      remove();
      if (!this.listeners.keys().includes(key)) this.seen.delete(key);
      if (this.listeners.size === 0) this.stopWatching();
    };
  }

  async cleanup(): Promise<number> {
    return this.sql.sweep.run(Date.now()).changes;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopWatching();
    releaseHub(this.realPath);
    this.db.close();
  }

  private read(key: string): string | null {
    return (this.sql.get.get(key, Date.now()) as string | undefined) ?? null;
  }

  private startWatching(): void {
    this.dataVersion = this.db.pragma('data_version', { simple: true }) as number;
    this.hub.on(KV_EVENT, this.onLocalWrite);
    this.timer = setInterval(() => this.checkOtherProcesses(), Math.max(1, this.options.pollingInterval * 1000));
  }

  private stopWatching(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.hub.off(KV_EVENT, this.onLocalWrite);
  }

  /** `data_version` changes when another connection commits: only then re-read the watched keys. */
  private checkOtherProcesses(): void {
    try {
      const version = this.db.pragma('data_version', { simple: true }) as number;
      if (version === this.dataVersion) return;
      this.dataVersion = version;
      for (const key of this.listeners.keys()) {
        const value = this.read(key);
        if (value === this.seen.get(key)) continue;
        this.seen.set(key, value);
        this.listeners.notify(key);
      }
    } catch {
      // Busy or briefly unavailable: the next tick tries again; waiters keep their own timeouts.
    }
  }
}

export interface SqliteBackendOptions {
  resultExpires?: number | null;
  codec?: ResultCodec;
  /** Seconds between cross-process change checks (default 0.1). `polling_interval` is accepted too. */
  pollingInterval?: number;
  [option: string]: unknown;
}

export function createSqliteBackend(url: string, options: SqliteBackendOptions = {}): KeyValueResultBackend {
  const file = sqlitePathFromUrl(url, 'result_backend', SQLITE_BACKEND_SCHEMES);
  const pollingInterval = readSeconds(options, 'result_backend_transport_options', {
    name: 'pollingInterval',
    default: 0.1,
    min: 0.001,
    max: 60,
  });
  return new KeyValueResultBackend({
    backend: 'sqlite',
    url,
    open: () => new SqliteKeyValueStore({ file, pollingInterval }),
    resultExpires: options.resultExpires,
    codec: options.codec,
  });
}
