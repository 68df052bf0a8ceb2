/**
 * AsyncResult: a handle on a task's state in the result backend. State reads are async (they hit
 * the backend), so Celery's properties become awaitable getters: `await result.state`.
 */
import { READY_STATES, PROPAGATE_STATES, type ExceptionInfo, type ResultMeta, type TaskState } from '../backends/types.js';
import { CeleriacError, RemoteTaskError } from '../errors.js';
import { parseIsoDate } from '../protocol/dates.js';
import type { Celery } from './celery.js';
import type { GroupResult } from '../canvas/group-result.js';

/** Celery's result tuple: `[[id, parent], null]` for a task, `[[gid, parent], [children…]]` for a group. */
export type ResultTuple = [[string, ResultTuple | null], ResultTuple[] | null];

export interface GetOptions {
  /** Milliseconds to wait; undefined waits forever. */
  timeout?: number;
  /** Throw the task's error when it failed (default true). */
  propagate?: boolean;
  signal?: AbortSignal;
}

export class AsyncResult<R = unknown> {
  private cached: ResultMeta | null = null;
  /** The previous step's result in a chain (Celery's `result.parent`), when known. */
  parent: AsyncResult | GroupResult<unknown[]> | null = null;

  constructor(
    readonly id: string,
    private readonly app: Celery,
    readonly taskName: string | null = null,
  ) {}

  /** The stored meta, re-read from the backend until the task is ready. */
  async meta(): Promise<ResultMeta> {
    if (this.cached) return this.cached;
    const meta = await (await this.backend()).getTaskMeta(this.id);
    if (READY_STATES.has(meta.status)) this.cached = meta;
    return meta;
  }

  get state(): Promise<TaskState> {
    return this.meta().then((m) => m.status);
  }

  get status(): Promise<TaskState> {
    return this.state;
  }

  /** The return value when SUCCESS, the error info when failed, progress meta otherwise. */
  get result(): Promise<unknown> {
    return this.meta().then((m) => m.result);
  }

  /** Celery's `info`: the same as `result` (progress meta of a custom state, or the error info). */
  get info(): Promise<unknown> {
    return this.result;
  }

  get traceback(): Promise<string | null> {
    return this.meta().then((m) => m.traceback);
  }

  get dateDone(): Promise<Date | null> {
    return this.meta().then((m) => (m.date_done ? parseIsoDate(m.date_done) : null));
  }

  async ready(): Promise<boolean> {
    return READY_STATES.has(await this.state);
  }

  async successful(): Promise<boolean> {
    return (await this.state) === 'SUCCESS';
  }

  async failed(): Promise<boolean> {
    return (await this.state) === 'FAILURE';
  }

  /** Wait for the task and return its value; a failure rejects with `RemoteTaskError`. */
  get(options?: GetOptions & { propagate?: true }): Promise<R>;
  get(options: GetOptions & { propagate: false }): Promise<R | RemoteTaskError>;
  get(options: GetOptions = {}): Promise<R | RemoteTaskError> {
    if (this.cached) {
      const cached = this.cached;
      return Promise.resolve().then(() => this.outcome(cached, options));
    }
    // With the backend open, wait on it directly rather than through the connecting steps.
    const open = this.app.backendIfOpen;
    const waiting = open ? open.waitForResult(this.id, { timeout: options.timeout, signal: options.signal }) : this.waitForMeta(options);
    // (A value or a throw, not a promise: a promise returned here would cost two more turns to adopt.)
    return waiting.then((meta) => this.outcome(meta, options));
  }

  /** The task's value; its error, returned with `propagate: false` or else thrown. */
  private outcome(meta: ResultMeta, options: GetOptions): R | RemoteTaskError {
    this.cached = meta;
    if (PROPAGATE_STATES.has(meta.status)) {
      const error = errorFromMeta(meta);
      if (options.propagate === false) return error;
      throw error;
    }
    return meta.result as R;
  }

  /** Remove the stored result. */
  async forget(): Promise<void> {
    this.cached = null;
    await (await this.backend()).forget(this.id);
  }

  /** Ask workers not to run this task (and with `terminate`, to stop it if running). */
  async revoke(options: { terminate?: boolean; signal?: string } = {}): Promise<void> {
    await this.app.control.revoke(this.id, options);
  }

  /** Celery's `as_tuple()`: `[[id, parent tuple], null]`. */
  asTuple(): ResultTuple {
    return [[this.id, this.parent ? this.parent.asTuple() : null], null];
  }

  toString(): string {
    return this.id;
  }

  toJSON(): string {
    return this.id;
  }

  /**
   * Wait on the backend. If its first connection fails (Redis restarting as the wait begins), that
   * is retried with backoff within the caller's timeout, as reads during the wait already are.
   */
  private async waitForMeta(options: GetOptions): Promise<ResultMeta> {
    const deadline = options.timeout === undefined ? Infinity : Date.now() + options.timeout;
    for (let attempt = 0; ; attempt++) {
      let backend;
      try {
        backend = await this.backend();
      } catch (err) {
        const delayMs = Math.min(2000, 50 * 2 ** attempt);
        if (err instanceof CeleriacError || options.signal?.aborted || Date.now() + delayMs >= deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        continue;
      }
      const timeout = deadline === Infinity ? undefined : Math.max(0, deadline - Date.now());
      return backend.waitForResult(this.id, { timeout, signal: options.signal });
    }
  }

  private async backend() {
    const backend = await this.app.connectBackend();
    if (!backend) throw new CeleriacError('No result backend is configured (result_backend is null)');
    return backend;
  }
}

/** Build the client-side error for a FAILURE or REVOKED meta, keeping the remote type and arguments. */
export function errorFromMeta(meta: ResultMeta): RemoteTaskError {
  const info = isExceptionInfo(meta.result)
    ? meta.result
    : { exc_type: meta.status === 'REVOKED' ? 'TaskRevokedError' : 'Exception', exc_message: [meta.result], exc_module: null };
  const args = Array.isArray(info.exc_message) ? info.exc_message : [info.exc_message];
  return new RemoteTaskError(info.exc_type, args, info.exc_module ?? null, meta.task_id, meta.traceback ?? null);
}

function isExceptionInfo(value: unknown): value is ExceptionInfo {
  return typeof value === 'object' && value !== null && typeof (value as ExceptionInfo).exc_type === 'string';
}
