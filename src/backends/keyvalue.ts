/**
 * Result backends over a plain key-value store, after Celery's `BaseKeyValueStoreBackend`: results are
 * stored as `celery-task-meta-<id>` and groups as `celery-taskset-meta-<gid>` in Celery's own JSON, so
 * Python and TypeScript read each other's results. Stores (memory, SQLite, later Redis) only get, set
 * and announce changes; everything else lives here, once.
 */
import { CeleriacError, ConfigurationError } from '../errors.js';
import { isRecord } from '../protocol/envelope.js';
import { dumps, loads } from '../protocol/pyjson.js';
import { redactUrl } from '../utils/url.js';
import { type ResultBackend, type ResultMeta, type RevocationRecord, type WaitOptions } from './types.js';
import { OpenOnce } from '../utils/open-once.js';
import { ResultWait, type ResultWaitHost } from './result-wait.js';

export const TASK_KEY_PREFIX = 'celery-task-meta-';
export const GROUP_KEY_PREFIX = 'celery-taskset-meta-';

export const taskKey = (taskId: string): string => `${TASK_KEY_PREFIX}${taskId}`;
export const groupKey = (groupId: string): string => `${GROUP_KEY_PREFIX}${groupId}`;

export interface KeyValueStore {
  get(key: string): Promise<string | null>;
  mget(keys: string[]): Promise<(string | null)[]>;
  /** `ttlSeconds` null keeps the value until deleted. */
  set(key: string, value: string, ttlSeconds: number | null): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Call `listener` when `key` may have changed (spurious calls are allowed: the caller re-reads).
   * A store that knows the new value passes it, saving the re-read. Returns the unsubscribe
   * function. Stores that cannot notify omit this and are polled.
   */
  onChange?(key: string, listener: (value?: string) => void): () => void;
  /** Start listening for `key` ahead of any waiter (see `ResultBackend.onTaskCall`). */
  watch?(key: string): void;
  /**
   * True when `onChange` itself covers a value stored before its subscription was live: it passes
   * that value (Redis reads the key right behind SUBSCRIBE), or calls the listener without one so
   * the waiter reads. The waiter then makes no read of its own.
   */
  readonly coversEarlierValues?: boolean;
  /**
   * Set `key` unless its stored value is a SUCCESS result, announcing the change, as one atomic
   * step. Stores without it get Celery's get-then-set.
   */
  setResult?(key: string, value: string, ttlSeconds: number | null): Promise<void>;
  /** Delete expired entries, returning how many; stores with native expiry omit it. */
  cleanup?(): Promise<number>;
  /** Scored sets (Redis ZSET semantics), for small shared records such as durable revocations. */
  addScored?(key: string, entries: readonly ScoredMember[]): Promise<void>;
  /** Members scored at least `minScore`, lowest first. */
  rangeByScore?(key: string, minScore: number): Promise<ScoredMember[]>;
  /** Remove members scored at most `maxScore`. */
  removeByScore?(key: string, maxScore: number): Promise<void>;
  close(): Promise<void>;
}

export interface ScoredMember {
  member: string;
  score: number;
}

/** The scored set of durable revocations: member = JSON record, score = revoked-at Unix ms. */
export const REVOKED_KEY = 'celeriac-revoked';

/** How result values are turned into stored text (JSON by default; msgpack can plug in later). */
export interface ResultCodec {
  encode(value: unknown): string;
  decode(text: string): unknown;
}

export const JSON_CODEC: ResultCodec = { encode: dumps, decode: loads };

export interface KeyValueBackendOptions {
  /** Backend name, e.g. `sqlite`. */
  backend: string;
  /** URL; redacted before it is stored. */
  url: string;
  /** Opens the store; called once, on `connect()` or the first operation. */
  open: () => KeyValueStore | Promise<KeyValueStore>;
  /** Seconds results are kept (Celery's `result_expires`); null or 0 keeps them forever. Default 1 day. */
  resultExpires?: number | null;
  codec?: ResultCodec;
  /** Polling bounds for stores without change notification, ms. */
  pollInitialMs?: number;
  pollMaxMs?: number;
}

/** Validate Celery's `result_expires`: seconds, or null for never. */
export function checkResultExpires(value: unknown): number | null {
  if (value === undefined) return 86400;
  if (value === null || value === 0) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigurationError('result_expires', `expected seconds >= 0 or null, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Per-key listener sets for stores implementing `onChange`. */
export class KeyListeners {
  private readonly byKey = new Map<string, Set<() => void>>();

  add(key: string, listener: () => void): () => void {
    let set = this.byKey.get(key);
    if (!set) this.byKey.set(key, (set = new Set()));
    // Wrapped so the same function can be registered twice and removed independently.
    const entry = (): void => listener();
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.byKey.get(key) === set) this.byKey.delete(key);
    };
  }

  notify(key: string): void {
    for (const listener of [...(this.byKey.get(key) ?? [])]) listener();
  }

  keys(): string[] {
    return [...this.byKey.keys()];
  }

  get size(): number {
    return this.byKey.size;
  }
}

export class KeyValueResultBackend implements ResultBackend {
  readonly backend: string;
  readonly url: string;
  readonly resultExpires: number | null;
  private readonly codec: ResultCodec;
  private readonly pollInitialMs: number;
  private readonly pollMaxMs: number;
  private readonly store: OpenOnce<KeyValueStore>;
  private closed = false;
  /** What each `waitForResult` uses of this backend; its `waits` are settled by close(). */
  private readonly waitHost: ResultWaitHost = {
    waits: new Set(),
    isClosed: () => this.closed,
    pollDelays: () => ({ initialMs: this.pollInitialMs, maxMs: this.pollMaxMs }),
    openStore: () => (this.closed ? undefined : this.store.peek()),
    getStore: () => this.getStore(),
    getTaskMeta: (taskId) => this.getTaskMeta(taskId),
    decodeMeta: (raw, taskId) => this.decodeMeta(raw, taskId),
  };

  constructor(private readonly options: KeyValueBackendOptions) {
    this.store = new OpenOnce(() => this.options.open());
    this.backend = options.backend;
    this.url = redactUrl(options.url);
    this.resultExpires = checkResultExpires(options.resultExpires);
    this.codec = options.codec ?? JSON_CODEC;
    this.pollInitialMs = options.pollInitialMs ?? 20;
    this.pollMaxMs = options.pollMaxMs ?? 500;
  }

  async connect(): Promise<void> {
    await this.getStore();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closedError = new CeleriacError(`result backend ${this.url} was closed while waiting for a result`);
    for (const wait of [...this.waitHost.waits]) wait.fail(closedError);
    await (await this.store.take())?.close();
  }

  /** The underlying store (opened on first use). */
  getStore(): Promise<KeyValueStore> {
    if (this.closed) return Promise.reject(new CeleriacError(`result backend ${this.url} is closed`));
    return this.store.get();
  }

  onTaskCall(taskId: string): void {
    // Only with the store already open: a call never waits for the result store.
    if (!this.closed) this.store.peek()?.watch?.(taskKey(taskId));
  }

  storeResult(meta: ResultMeta): Promise<void> {
    if (typeof meta.task_id !== 'string' || !meta.task_id) return Promise.reject(new TypeError('storeResult: meta.task_id is required'));
    // Once the store is open, a result is written without waiting a turn for it.
    const open = this.closed ? undefined : this.store.peek();
    if (open) {
      try {
        return this.writeResult(open, meta);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.getStore().then((store) => this.writeResult(store, meta));
  }

  private async writeResultSlow(store: KeyValueStore, meta: ResultMeta, encoded: string): Promise<void> {
    // Celery's dedup guard: a late duplicate must not turn a stored SUCCESS into anything else.
    const current = await store.get(taskKey(meta.task_id));
    if (current !== null && this.decodeMeta(current, meta.task_id).status === 'SUCCESS') return;
    await store.set(taskKey(meta.task_id), encoded, this.resultExpires);
  }

  /** Durable revocations are kept where the store has scored sets (Redis, SQLite, memory). */
  async recordRevocations(records: readonly RevocationRecord[], keepSeconds: number): Promise<boolean> {
    const store = await this.getStore();
    if (!store.addScored || !store.removeByScore) return false;
    await store.addScored(REVOKED_KEY, records.map((r) => ({ member: JSON.stringify([r.id, r.terminate, r.signal]), score: r.at })));
    await store.removeByScore(REVOKED_KEY, Date.now() - keepSeconds * 1000);
    return true;
  }

  async revocationsSince(sinceMs: number): Promise<RevocationRecord[] | null> {
    const store = await this.getStore();
    if (!store.rangeByScore) return null;
    const out: RevocationRecord[] = [];
    for (const { member, score } of await store.rangeByScore(REVOKED_KEY, sinceMs)) {
      const record = parseRevocation(member, score);
      if (record) out.push(record);
    }
    return out;
  }

  private writeResult(store: KeyValueStore, meta: ResultMeta): Promise<void> {
    const encoded = this.codec.encode(meta);
    if (store.setResult) return store.setResult(taskKey(meta.task_id), encoded, this.resultExpires);
    return this.writeResultSlow(store, meta, encoded);
  }

  async getTaskMeta(taskId: string): Promise<ResultMeta> {
    const raw = await (await this.getStore()).get(taskKey(taskId));
    return raw === null ? pending(taskId) : this.decodeMeta(raw, taskId);
  }

  /** Several metas in one store round trip (group results). */
  async getTaskMetas(taskIds: string[]): Promise<ResultMeta[]> {
    const raws = await (await this.getStore()).mget(taskIds.map(taskKey));
    return raws.map((raw, i) => {
      const id = taskIds[i] as string;
      return raw === null ? pending(id) : this.decodeMeta(raw, id);
    });
  }

  waitForResult(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    return new ResultWait(this.waitHost, taskId, taskKey(taskId), options).promise;
  }

  async forget(taskId: string): Promise<void> {
    await (await this.getStore()).delete(taskKey(taskId));
  }

  async saveGroup(groupId: string, taskIds: string[]): Promise<void> {
    // GroupResult.as_tuple(): ((gid, parent), [((tid, parent), None), ...])
    const value = { result: [[groupId, null], taskIds.map((id) => [[id, null], null])] };
    await (await this.getStore()).set(groupKey(groupId), this.codec.encode(value), this.resultExpires);
  }

  async restoreGroup(groupId: string): Promise<string[] | null> {
    const raw = await (await this.getStore()).get(groupKey(groupId));
    if (raw === null) return null;
    const decoded = this.codec.decode(raw);
    const members = isRecord(decoded) && Array.isArray(decoded.result) ? decoded.result[1] : undefined;
    if (!Array.isArray(members)) throw new CeleriacError(`stored group ${groupId} is not Celery's group format`);
    return members.map((member: unknown) => {
      // A member is ((id, parent), None); nested groups are ((gid, parent), [...]): the id comes first either way.
      const head: unknown = Array.isArray(member) ? member[0] : member;
      const id: unknown = Array.isArray(head) ? head[0] : head;
      if (typeof id !== 'string') throw new CeleriacError(`stored group ${groupId} has a member without an id`);
      return id;
    });
  }

  async deleteGroup(groupId: string): Promise<void> {
    await (await this.getStore()).delete(groupKey(groupId));
  }

  async cleanup(): Promise<number> {
    const store = await this.getStore();
    return store.cleanup ? store.cleanup() : 0;
  }

  private decodeMeta(raw: string, taskId: string): ResultMeta {
    const decoded = this.codec.decode(raw);
    if (!isRecord(decoded) || typeof decoded.status !== 'string') {
      throw new CeleriacError(`stored result of task ${taskId} is not a Celery result meta`);
    }
    // Freshly decoded, so ours to complete (a copy per result read showed on lone round trips).
    if (typeof decoded.task_id !== 'string') decoded.task_id = taskId;
    return decoded as unknown as ResultMeta;
  }
}

/** What Celery reports for an id it has no result for. */
function pending(taskId: string): ResultMeta {
  return { status: 'PENDING', result: null, traceback: null, children: [], date_done: null, task_id: taskId };
}

function parseRevocation(member: string, at: number): RevocationRecord | null {
  try {
    const [id, terminate, signal] = JSON.parse(member) as unknown[];
    if (typeof id !== 'string') return null;
    return { id, terminate: terminate === true, signal: typeof signal === 'string' ? signal : 'SIGTERM', at };
  } catch {
    return null;
  }
}
