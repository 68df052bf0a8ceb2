/**
 * Stores STARTED, SUCCESS, FAILURE and REVOKED in the result backend, as Celery's tracer does.
 *
 * A finished task's result write is waited for only when something depends on it: an acks-late
 * ack (which must not land before the result), a workflow (the next step reads it), or too many
 * writes already outstanding. Otherwise the task's slot is free at once and the write lands with
 * its batch (backends batch the writes of a tick); stop() waits for every outstanding write.
 */
import type { ResultMeta, ResultRequest, TaskState } from '../../backends/types.js';
import { hasWorkflow } from '../../canvas/dispatch.js';
import type { MessageProperties } from '../../protocol/types.js';
import { exceptionInfo, tracebackText } from '../exceptions.js';
import type { Outcome, Skip, WorkerMiddleware, WorkerRuntime } from '../middleware.js';
import type { TaskRequest } from '../request.js';
import { buildResultMeta, revokedInfo } from '../result-meta.js';
import { SharedWrites } from '../shared-writes.js';

/** Result writes left to finish in the background before tasks wait for theirs (memory bound). */
const MAX_BACKGROUND_WRITES = 5000;

export class ResultMiddleware implements WorkerMiddleware {
  readonly name = 'results';
  private runtime!: WorkerRuntime;
  private readonly background = new SharedWrites((err, batch) =>
    this.runtime.log.error({ count: batch.count, ids: batch.ids, err: (err as Error).message }, 'could not store task results'),
  );

  start(runtime: WorkerRuntime): void {
    this.runtime = runtime;
  }

  stop(): Promise<void> {
    return this.background.drain();
  }

  // Not async: a hook with nothing to do returns no promise, so the worker does not wait a turn.
  beforeExecute(request: TaskRequest): Promise<void> | void {
    const track = request.task.options.trackStarted ?? this.runtime.app.conf.taskTrackStarted;
    if (!track || this.ignored(request)) return;
    return this.store(request, 'STARTED', { pid: process.pid, hostname: this.runtime.hostname }, null);
  }

  afterExecute(request: TaskRequest, outcome: Outcome): Promise<void> | void {
    let write: Promise<void> | void;
    if (outcome.status === 'SUCCESS') {
      if (this.ignored(request)) return;
      write = this.store(request, 'SUCCESS', outcome.value, null);
    } else {
      if (this.ignored(request) && !this.runtime.app.conf.taskStoreErrorsEvenIfIgnored) return;
      write = this.store(request, 'FAILURE', exceptionInfo(outcome.error), tracebackText(outcome.error));
    }
    if (!write || this.mustWait(request)) return write;
    this.background.add(write, request.id);
  }

  private mustWait(request: TaskRequest): boolean {
    const acksLate = request.task.options.acksLate ?? this.runtime.app.conf.taskAcksLate;
    return acksLate || hasWorkflow(request.embed) || this.background.outstanding >= MAX_BACKGROUND_WRITES;
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
