/**
 * The request context of the task currently running in this async call chain. Tasks read it with
 * `currentTask()`; the publisher reads it to set `parent_id`/`root_id` on tasks sent from a task.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { DeliveryInfo } from '../brokers/types.js';

export interface TaskContext {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  retries: number;
  rootId: string;
  parentId: string | null;
  groupId: string | null;
  groupIndex: number | null;
  eta: Date | null;
  expires: Date | null;
  hostname: string;
  deliveryInfo: DeliveryInfo;
  replyTo: string | null;
  correlationId: string;
  origin: string | null;
  /** Seconds, `[hard, soft]`, as the message carried them. */
  timeLimit: [number | null, number | null];
  /** Aborted when the task is revoked with terminate, times out, or the worker shuts down cold. */
  signal: AbortSignal;
  /**
   * Store a state for this task that `AsyncResult` reads (`state`, `info`): progress meta with a
   * custom state, as Celery's `self.update_state(state='PROGRESS', meta={...})`.
   */
  updateState(state: string, meta?: unknown): Promise<void>;
  /** Custom headers the message carried beyond protocol v2's own. */
  headers: Record<string, unknown>;
}

/**
 * What runs a task can hand over instead of a built context: the context is then made only if the
 * task (or something it calls) asks for it. Most tasks never do, and building one costs every task.
 */
export interface TaskContextSource {
  context(): TaskContext;
}

const storage = new AsyncLocalStorage<TaskContext | TaskContextSource>();

function isSource(value: TaskContext | TaskContextSource): value is TaskContextSource {
  return typeof (value as Partial<TaskContextSource>).context === 'function';
}

/** The context of the running task, or undefined outside a task. */
export function currentTask(): TaskContext | undefined {
  const store = storage.getStore();
  if (store === undefined) return undefined;
  return isSource(store) ? store.context() : store;
}

export function runWithTaskContext<T>(context: TaskContext | TaskContextSource, fn: () => T): T {
  return storage.run(context, fn);
}
