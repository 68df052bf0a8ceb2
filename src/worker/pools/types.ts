/**
 * What the execution pools share: a task job as plain data (so it crosses into a worker thread or a
 * child process by structured clone), errors flattened for the same trip, and the pool interface.
 *
 * The scheduling side (how many requests run at once, which wait) is `AsyncPool` in ../pool.ts; a
 * pool here only decides where the task's code runs and how it is stopped.
 */
import type { TaskContext } from '../../app/context.js';
import { Ignore, Reject, Retry, type RetryOptions } from '../../app/task-control.js';
import type { Outcome } from '../middleware.js';

export type PoolKind = 'async' | 'threads' | 'processes';
export const POOL_KINDS: readonly PoolKind[] = ['async', 'threads', 'processes'];

/** The task context without its signal and state writer, which cannot be cloned: each side makes its own. */
export type JobContext = Omit<TaskContext, 'signal' | 'updateState'>;

export interface TaskJob {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  context: JobContext;
  /** Milliseconds after which the task's signal aborts with SoftTimeLimitExceeded; null for none. */
  softTimeLimitMs: number | null;
  /** Milliseconds after which the task is stopped and fails with TimeLimitExceeded; null for none. */
  hardTimeLimitMs: number | null;
}

export interface RunControl {
  /**
   * Aborted to stop the task now (revoke with terminate, cold shutdown). Threads and processes are
   * killed (`reason.signal`, a signal name, is sent to a child process); in-process code sees the
   * abort on its own signal.
   */
  signal: AbortSignal;
}

export interface ExecutionPool {
  readonly kind: PoolKind;
  /** Tasks that can run at once. */
  readonly size: number;
  start(): Promise<void>;
  /** Run one job; never rejects: failures, time limits and lost workers are FAILURE outcomes. */
  run(job: TaskJob, control: RunControl): Promise<Outcome>;
  /** Grow or shrink at runtime; shrinking lets running tasks finish first. */
  resize(size: number): Promise<void>;
  /** Let running tasks finish, then release every thread or process. */
  close(): Promise<void>;
  /** Stop everything now. */
  terminate(): Promise<void>;
}

/** An Error flattened to plain data, keeping what Celery's exception triple needs. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  excType?: string;
  excModule?: string | null;
  args?: unknown[];
  /** A task-control error (retry, reject, ignore), rebuilt as its class on the other side. */
  control?:
    | { kind: 'retry'; options: Omit<RetryOptions, 'exc'>; exc?: SerializedError }
    | { kind: 'reject'; reason: string; requeue: boolean }
    | { kind: 'ignore' };
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Retry) {
    const { exc, ...options } = error.options;
    return { name: error.name, message: error.message, control: { kind: 'retry', options, ...(exc !== undefined ? { exc: serializeError(exc) } : {}) } };
  }
  if (error instanceof Reject) return { name: error.name, message: error.message, control: { kind: 'reject', reason: error.reason, requeue: error.requeue } };
  if (error instanceof Ignore) return { name: error.name, message: error.message, control: { kind: 'ignore' } };
  if (!(error instanceof Error)) return { name: 'Exception', message: String(error), excType: 'Exception', excModule: 'builtins' };
  const e = error as Error & { excType?: string; excModule?: string | null; args?: unknown };
  const out: SerializedError = { name: e.name, message: e.message, stack: e.stack, excType: e.excType ?? e.constructor?.name ?? e.name };
  if (e.excModule !== undefined) out.excModule = e.excModule;
  if (Array.isArray(e.args)) out.args = cloneable(e.args) ? e.args : e.args.map(String);
  return out;
}

/** Rebuild an Error that `exceptionInfo` stores exactly as the original would have been stored. */
export function deserializeError(data: SerializedError): Error {
  const control = data.control;
  if (control?.kind === 'retry') return new Retry({ ...control.options, ...(control.exc ? { exc: deserializeError(control.exc) } : {}) });
  if (control?.kind === 'reject') return new Reject(control.reason, control.requeue);
  if (control?.kind === 'ignore') return new Ignore(data.message);
  const error = new Error(data.message) as Error & { excType?: string; excModule?: string | null; args?: unknown[] };
  error.name = data.name;
  if (data.stack) error.stack = data.stack;
  if (data.excType) error.excType = data.excType;
  if (data.excModule !== undefined) error.excModule = data.excModule;
  if (data.args) error.args = data.args;
  return error;
}

function cloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}
