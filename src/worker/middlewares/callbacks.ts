/**
 * After a task, the workflow fields of its message (`celery/app/trace.py`, `backends/base.py`): on
 * success the `link` callbacks and the next chain step (popped from the end of `chain`) get the
 * result; on failure every later chain step is stored FAILURE and the errbacks run; a chord header
 * task reports its part. Registers Celery's built-in canvas tasks (`celery.chord_unlock`, …) at
 * start. Messages without workflow fields cost one check.
 */
import { Ignore, Reject, Retry } from '../../app/task-control.js';
import { registerCanvasTasks } from '../../canvas/builtins.js';
import { hasWorkflow, onTaskFailure, onTaskRevoked, onTaskSuccess, type FinishedTask } from '../../canvas/dispatch.js';
import type { Outcome, Skip, WorkerMiddleware, WorkerRuntime } from '../middleware.js';
import type { TaskRequest } from '../request.js';
import { revokedInfo } from '../result-meta.js';

export class CallbackMiddleware implements WorkerMiddleware {
  readonly name = 'callbacks';
  private runtime!: WorkerRuntime;

  start(runtime: WorkerRuntime): void {
    this.runtime = runtime;
    registerCanvasTasks(runtime.app);
  }

  afterExecute(request: TaskRequest, outcome: Outcome): Promise<void> | void {
    if (!hasWorkflow(request.embed)) return;
    const { app, backend } = this.runtime;
    if (outcome.status === 'SUCCESS') return onTaskSuccess(app, backend, finished(request), outcome.value);
    // Retry, Reject and Ignore are not failures of the workflow: the task runs again or is dropped.
    if (outcome.error instanceof Retry || outcome.error instanceof Reject || outcome.error instanceof Ignore) return;
    return onTaskFailure(app, backend, finished(request), outcome.error);
  }

  afterSkip(request: TaskRequest, skip: Skip): Promise<void> | void {
    if (!request.embed.chord) return;
    return onTaskRevoked(this.runtime.app, this.runtime.backend, finished(request), revokedInfo(skip.reason));
  }
}

function finished(request: TaskRequest): FinishedTask {
  const h = request.headers;
  return {
    id: request.id,
    rootId: h.root_id ?? null,
    groupId: h.group ?? null,
    groupIndex: h.group_index ?? null,
    embed: request.embed,
    request: { ...request.context(), id: request.id, rootId: h.root_id ?? null },
  };
}
