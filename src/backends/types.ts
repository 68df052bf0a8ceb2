/**
 * The ResultBackend interface (memory, SQLite, and later Redis, PostgreSQL, RPC).
 *
 * Results are Celery's meta dicts (`celery/backends/base.py::_get_result_meta`), stored under
 * `celery-task-meta-<id>` by key-value stores, so Python and TypeScript read each other's results.
 */

export type TaskState =
  | 'PENDING'
  | 'RECEIVED'
  | 'STARTED'
  | 'SUCCESS'
  | 'FAILURE'
  | 'RETRY'
  | 'REVOKED'
  | 'REJECTED'
  | 'IGNORED'
  | (string & {});

export const READY_STATES: ReadonlySet<string> = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);
export const PROPAGATE_STATES: ReadonlySet<string> = new Set(['FAILURE', 'REVOKED']);
export const EXCEPTION_STATES: ReadonlySet<string> = new Set(['RETRY', 'FAILURE', 'REVOKED']);

/** Celery's serialized exception: `{exc_type, exc_message, exc_module}`. */
export interface ExceptionInfo {
  exc_type: string;
  exc_message: unknown[];
  exc_module: string | null;
}

/** A result as Celery stores it. Extended fields appear with `result_extended`. */
export interface ResultMeta {
  status: TaskState;
  result: unknown;
  traceback: string | null;
  children: unknown[] | null;
  date_done: string | null;
  task_id: string;
  group_id?: string | null;
  parent_id?: string | null;
  name?: string | null;
  args?: unknown[] | null;
  kwargs?: Record<string, unknown> | null;
  worker?: string | null;
  retries?: number | null;
  queue?: string | null;
  [extra: string]: unknown;
}

export interface WaitOptions {
  /** Milliseconds; undefined waits forever. */
  timeout?: number;
  signal?: AbortSignal;
}

/** Where the request that produced a result asked for it to go (reply-to backends such as rpc://). */
export interface ResultRequest {
  /** The task message's `reply_to` property: the sending client's reply queue, or empty. */
  replyTo: string;
  /** The task message's `correlation_id` (the task id). */
  correlationId: string;
}

/** What a backend can do beyond the basics; every flag is true for stores (memory, SQLite, Redis). */
export interface ResultBackendCapabilities {
  /** Any client can read or wait for any result, any time (false for rpc://: only the sender gets it). */
  sharedResults: boolean;
  /** saveGroup/restoreGroup/deleteGroup work (false for rpc://, as in Celery). */
  groups: boolean;
  /** Results expire after `resultExpires`. */
  expiry: boolean;
  /** The whole meta is kept (date_done, group/parent ids, extended fields), not only Celery's rpc fields. */
  extendedMeta: boolean;
}

export const FULL_BACKEND_CAPABILITIES: ResultBackendCapabilities = { sharedResults: true, groups: true, expiry: true, extendedMeta: true };

export interface ResultBackend {
  /** Backend name, e.g. `sqlite`, `memory`. */
  readonly backend: string;
  /** Absent means FULL_BACKEND_CAPABILITIES. */
  readonly capabilities?: ResultBackendCapabilities;
  /** The URL with any password redacted. */
  readonly url: string;
  connect(): Promise<void>;
  close(): Promise<void>;
  /**
   * Store a task's state. A stored SUCCESS is never overwritten (Celery's dedup guard), so a late
   * duplicate delivery cannot turn a success into something else. `request` says where the task's
   * sender wants the result (used by rpc://; stores ignore it).
   */
  storeResult(meta: ResultMeta, request?: ResultRequest): Promise<void>;
  /**
   * A task is being sent by this client (Celery's `on_task_call`): a backend that pushes results
   * may start listening for it now, so a later wait is already subscribed. Never waits.
   */
  onTaskCall?(taskId: string): void;
  /** The stored meta, or `{status: 'PENDING', result: null, …}` for an unknown id. */
  getTaskMeta(taskId: string): Promise<ResultMeta>;
  /**
   * Resolve with the meta once the task is in a ready state (SUCCESS, FAILURE, REVOKED). Rejects with
   * `TimeoutError` after `timeout` ms.
   */
  waitForResult(taskId: string, options?: WaitOptions): Promise<ResultMeta>;
  forget(taskId: string): Promise<void>;
  /** Save a group's member ids as `celery-taskset-meta-<groupId>`. */
  saveGroup(groupId: string, taskIds: string[]): Promise<void>;
  /** The member ids of a saved group, or null. */
  restoreGroup(groupId: string): Promise<string[] | null>;
  deleteGroup(groupId: string): Promise<void>;
  /** Remove results older than their expiry (stores without native TTL). */
  cleanup(): Promise<number>;
  /**
   * Keep revocations where every worker reads them, for `keepSeconds` (Celery keeps them only in
   * worker memory: its issue #4886). Resolves false where the backend cannot.
   */
  recordRevocations?(records: readonly RevocationRecord[], keepSeconds: number): Promise<boolean>;
  /** Revocations recorded at or after `sinceMs` (Unix ms); null where the backend cannot keep them. */
  revocationsSince?(sinceMs: number): Promise<RevocationRecord[] | null>;
}

export interface RevocationRecord {
  id: string;
  terminate: boolean;
  /** Signal for `terminate` (Celery's default SIGTERM). */
  signal: string;
  /** When it was revoked, Unix ms. */
  at: number;
}
