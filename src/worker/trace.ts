/** Runs a request's function inside its task context and reports the outcome; never throws. */
import { runWithTaskContext } from '../app/context.js';
import type { Outcome } from './middleware.js';
import type { TaskRequest } from './request.js';

/**
 * The outcome, synchronously for a synchronous task: a promise (and its microtask turns) only when
 * the task itself returns one.
 */
export function traceRequest(request: TaskRequest): Outcome | Promise<Outcome> {
  const started = performance.now();
  let value: unknown;
  try {
    value = runWithTaskContext(request, () => request.task.callWith(request.args, request.kwargs));
  } catch (error) {
    return { status: 'FAILURE', error, runtimeMs: performance.now() - started };
  }
  if (!isThenable(value)) return success(value, started);
  return Promise.resolve(value).then(
    (resolved) => success(resolved, started),
    (error: unknown): Outcome => ({ status: 'FAILURE', error, runtimeMs: performance.now() - started }),
  );
}

function success(value: unknown, started: number): Outcome {
  return { status: 'SUCCESS', value: value === undefined ? null : value, runtimeMs: performance.now() - started };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
