/** Stores STARTED, SUCCESS, FAILURE and REVOKED in the result backend, as Celery's tracer does. */
import type { ResultMeta, ResultRequest, TaskState } from '../../backends/types.js';
import type { MessageProperties } from '../../protocol/types.js';
import { exceptionInfo, tracebackText } from '../exceptions.js';
import type { Outcome, Skip, WorkerMiddleware, WorkerRuntime } from '../middleware.js';
import type { TaskRequest } from '../request.js';
import { buildResultMeta, revokedInfo } from '../result-meta.js';

export class ResultMiddleware implements WorkerMiddleware {
  readonly name = 'results';
  private runtime!: WorkerRuntime;

  start(runtime: WorkerRuntime): void {
    this.runtime = runtime;
  }

  // Not async: a hook with nothing to do returns no promise, so the worker does not wait a turn.
  beforeExecute(request: TaskRequest): Promise<void> | void {
    const track = request.task.options.trackStarted ?? this.runtime.app.conf.taskTrackStarted;
    if (!track || this.ignored(request)) return;
    return this.store(request, 'STARTED', { pid: process.pid, hostname: this.runtime.hostname }, null);
  }

  afterExecute(request: TaskRequest, outcome: Outcome): Promise<void> | void {
    if (outcome.status === 'SUCCESS') {
      if (!this.ignored(request)) return this.store(request, 'SUCCESS', outcome.value, null);
      return;
    }
    if (this.ignored(request) && !this.runtime.app.conf.taskStoreErrorsEvenIfIgnored) return;
    return this.store(request, 'FAILURE', exceptionInfo(outcome.error), tracebackText(outcome.error));
  }

  async afterSkip(request: TaskRequest, skip: Skip): Promise<void> {
    await this.store(request, 'REVOKED', revokedInfo(skip.reason), null);
  }

  private ignored(request: TaskRequest): boolean {
    return Boolean(request.headers.ignore_result) || (request.task.options.ignoreResult ?? this.runtime.app.conf.taskIgnoreResult);
  }

  private store(request: TaskRequest, status: TaskState, result: unknown, traceback: string | null): Promise<void> | void {
    const backend = this.runtime.backend;
    if (!backend) return;
    const meta: ResultMeta = buildResultMeta(request.metaSource(), status, result, traceback, {
      extended: this.runtime.app.conf.resultExtended,
    });
    return backend.storeResult(meta, resultRequest(request.message.properties, request.id));
  }
}

/** Where the task's sender asked for its result (rpc://): `reply_to` and `correlation_id`. */
export function resultRequest(properties: MessageProperties, taskId: string): ResultRequest {
  const replyTo = typeof properties.reply_to === 'string' ? properties.reply_to : '';
  const correlationId = typeof properties.correlation_id === 'string' && properties.correlation_id ? properties.correlation_id : taskId;
  return { replyTo, correlationId };
}
