/** Runs a request's function inside its task context and reports the outcome; never throws. */
import { runWithTaskContext } from '../app/context.js';
import type { Outcome } from './middleware.js';
import type { TaskRequest } from './request.js';

export async function traceRequest(request: TaskRequest): Promise<Outcome> {
  const started = performance.now();
  try {
    const value: unknown = await runWithTaskContext(request.context(), () => request.task.runWith(request.args, request.kwargs));
    return { status: 'SUCCESS', value: value === undefined ? null : value, runtimeMs: performance.now() - started };
  } catch (error) {
    return { status: 'FAILURE', error, runtimeMs: performance.now() - started };
  }
}
