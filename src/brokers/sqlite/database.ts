/**
 * SQLite plumbing shared by the SQLite broker and the SQLite result backend, which may use the same
 * file: URL parsing (SQLAlchemy's spelling), opening with the pragmas several processes need, versioned
 * migrations per component, and an in-process notification hub per database file.
 *
 * Convention: every table celeriac creates is prefixed `celeriac_`.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { lazyRequire } from '../../utils/lazy-require.js';

const loadSqlite = lazyRequire<typeof Database>('better-sqlite3');
import { CeleriacError, ConfigurationError } from '../../errors.js';
import { redactUrl, urlScheme } from '../../utils/url.js';

export type SqliteDatabase = Database.Database;

/** ms a statement waits for another process's write lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * The file path of `sqlite:///relative.db` or `sqlite:////absolute.db` (three slashes then the path,
 * as SQLAlchemy writes it), for any of `schemes`. `setting` names the configuration setting in errors.
 */
export function sqlitePathFromUrl(url: string, setting: string, schemes: readonly string[]): string {
  const scheme = urlScheme(url);
  const shown = redactUrl(url);
  const examples = `${schemes[0]}:///relative/path.db or ${schemes[0]}:////absolute/path.db`;
  if (!scheme || !schemes.includes(scheme) || !url.slice(scheme.length).startsWith('://')) {
    throw new ConfigurationError(setting, `expected ${examples}, got ${shown}`);
  }
  const rest = url.slice(scheme.length + 3);
  if (/[?#]/.test(rest)) throw new ConfigurationError(setting, `query strings are not supported in ${shown}; use transport options`);
  if (!rest.startsWith('/')) throw new ConfigurationError(setting, `a SQLite URL has no host part: use ${examples}, got ${shown}`);
  let path: string;
  try {
    path = decodeURIComponent(rest.slice(1));
  } catch {
    throw new ConfigurationError(setting, `bad percent-encoding in ${shown}`);
  }
  if (!path || path === ':memory:') {
    throw new ConfigurationError(setting, `needs a database file shared by every process (${examples}), got ${shown}`);
  }
  return resolve(path);
}

export interface OpenedDatabase {
  db: SqliteDatabase;
  /** Canonical path: the key for in-process notifications between connections to the same file. */
  realPath: string;
}

/** Open (creating directories) in WAL mode, so readers never block the writer and vice versa. */
export function openDatabase(path: string): OpenedDatabase {
  mkdirSync(dirname(path), { recursive: true });
  const db = new (loadSqlite())(path, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma('journal_mode = WAL');
    // With WAL, NORMAL still never corrupts; a power loss may drop the last commits, a process kill does not.
    db.pragma('synchronous = NORMAL');
    return { db, realPath: realpathSync(path) };
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Apply `steps[current..]` for `component` (`broker`, `result_backend`) in one IMMEDIATE transaction,
 * so processes starting together cannot both migrate. Versions live in `celeriac_schema`, not in
 * `PRAGMA user_version`, because the broker and the backend may share one file.
 */
export function migrate(db: SqliteDatabase, component: string, steps: readonly string[]): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS celeriac_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)');
    const row = db.prepare('SELECT version FROM celeriac_schema WHERE component = ?').get(component) as
      | { version: number }
      | undefined;
    const current = row?.version ?? 0;
    if (current > steps.length) {
      throw new CeleriacError(
        `${db.name}: ${component} schema version ${current} is newer than this celeriac understands (${steps.length}); upgrade celeriac`,
      );
    }
    for (let version = current; version < steps.length; version++) db.exec(steps[version] as string);
    db.prepare(
      'INSERT INTO celeriac_schema (component, version) VALUES (?, ?) ON CONFLICT(component) DO UPDATE SET version = excluded.version',
    ).run(component, steps.length);
  }).immediate();
}

export interface ComponentDatabase extends OpenedDatabase {
  /** Wakes this process's other connections to the same file (see `acquireHub`). */
  hub: EventEmitter;
}

/** Open the file, bring `component`'s tables to the latest schema, and join the file's wake-up hub. */
export function openComponentDatabase(path: string, component: string, steps: readonly string[]): ComponentDatabase {
  const { db, realPath } = openDatabase(path);
  try {
    migrate(db, component, steps);
  } catch (err) {
    db.close();
    throw err;
  }
  return { db, realPath, hub: acquireHub(realPath) };
}

const hubs = new Map<string, { emitter: EventEmitter; refs: number }>();

/**
 * The process-wide emitter for one database file, so a write through one connection wakes waiters on
 * every other connection in this process at once (other processes notice by polling).
 */
export function acquireHub(realPath: string): EventEmitter {
  let hub = hubs.get(realPath);
  if (!hub) hubs.set(realPath, (hub = { emitter: new EventEmitter().setMaxListeners(0), refs: 0 }));
  hub.refs++;
  return hub.emitter;
}

export function releaseHub(realPath: string): void {
  const hub = hubs.get(realPath);
  if (hub && --hub.refs <= 0) hubs.delete(realPath);
}
