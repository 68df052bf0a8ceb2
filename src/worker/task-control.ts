/**
 * What the worker does when a task throws `Retry`, `Reject` or `Ignore` (src/app/task-control.ts),
 * as Celery's tracer does: a retry publishes the same task again (same id, `retries` + 1, its
 * callbacks, chain, group and time limits) to where it came from, stores RETRY with the error, and
 * acks this delivery; once retries are exhausted the task fails with the original error. A reject
 * settles the message as asked; an ignore stores nothing.
 */
import type { ApplyOptions } from '../app/publish.js';
import { publishTask } from '../app/publish.js';
import { Ignore, MaxRetriesExceededError, Reject, Retry, type RetryOptions } from '../app/task-control.js';
import { exceptionInfo, tracebackText } from './exceptions.js';
import type { Outcome, WorkerRuntime } from './middleware.js';
import type { TaskRequest } from './request.js';
import { buildResultMeta } from './result-meta.js';
import { resultRequest } from './middlewares/results.js';

const DEFAULT_MAX_RETRIES = 3;
const DEFAULT_RETRY_DELAY = 180;

/** What became of a task-control outcome: handled here, or a plain outcome to store as usual. */
export type ControlResult = { handled: true } | { handled: false; outcome: Outcome };

/** Control errors may have crossed from a pool thread or process as plain errors with these fields. */
function controlKind(error: unknown): 'retry' | 'reject' | 'ignore' | null {
  if (error instanceof Retry) return 'retry';
  if (error instanceof Reject) return 'reject';
  if (error instanceof Ignore) return 'ignore';
  return null;
}

export function isTaskControl(outcome: Outcome): boolean {
  return outcome.status === 'FAILURE' && controlKind(outcome.error) !== null;
}

export async function handleTaskControl(runtime: WorkerRuntime, request: TaskRequest, outcome: Outcome & { status: 'FAILURE' }): Promise<ControlResult> {
  const error = outcome.error;
  if (error instanceof Retry) return retryTask(runtime, request, error.options, outcome);
  if (error instanceof Reject) {
    runtime.log.warn({ id: request.id, task: request.name, requeue: error.requeue, reason: error.reason }, `Task ${request.name}[${request.id}] rejected: ${error.reason}`);
    await request.reject(error.requeue, error.reason);
    return { handled: true };
  }
  runtime.log.info({ id: request.id, task: request.name }, `Task ${request.name}[${request.id}] ignored`);
  await request.ack();
  return { handled: true };
}

async function retryTask(runtime: WorkerRuntime, request: TaskRequest, options: RetryOptions, outcome: Outcome): Promise<ControlResult> {
  const task = request.task;
  const retries = request.headers.retries + 1;
  const maxRetries = options.maxRetries !== undefined ? options.maxRetries : task.options.maxRetries !== undefined ? task.options.maxRetries : DEFAULT_MAX_RETRIES;
  const args = options.args ?? request.args;
  const kwargs = options.kwargs ?? request.kwargs;
  if (maxRetries !== null && retries > maxRetries) {
    const error =
      options.exc ??
      new MaxRetriesExceededError(`Can't retry ${request.name}[${request.id}] args:${JSON.stringify(args)} kwargs:${JSON.stringify(kwargs)}`);
    return { handled: false, outcome: { status: 'FAILURE', error, runtimeMs: outcome.runtimeMs } };
  }
  const countdown = options.eta === undefined ? (options.countdown ?? task.options.defaultRetryDelay ?? DEFAULT_RETRY_DELAY) : undefined;
  await publishTask(runtime.app, request.name, args, kwargs, retryApplyOptions(request, options, retries, countdown), task.options);
  const backend = runtime.backend;
  if (backend) {
    const exc = options.exc ?? new Retry(options);
    const meta = buildResultMeta(request.metaSource(), 'RETRY', exceptionInfo(exc), tracebackText(exc), { extended: runtime.app.conf.resultExtended });
    await backend.storeResult(meta, resultRequest(request.message.properties, request.id));
  }
  const when = options.eta !== undefined ? `at ${String(options.eta instanceof Date ? options.eta.toISOString() : options.eta)}` : `in ${countdown}s`;
  const cause = options.exc instanceof Error ? `: ${options.exc.name}('${options.exc.message}')` : '';
  runtime.log.info({ id: request.id, task: request.name, retries, countdown }, `Task ${request.name}[${request.id}] retry: Retry ${when}${cause}`);
  await request.ack();
  return { handled: true };
}

/** Celery's `signature_from_request`: the same id, workflow and limits, back where it came from. */
function retryApplyOptions(request: TaskRequest, options: RetryOptions, retries: number, countdown: number | undefined): ApplyOptions {
  const h = request.headers;
  const info = request.deliveryInfo;
  const embed = request.embed;
  const [hard, soft] = h.timelimit;
  const out: ApplyOptions = {
    taskId: request.id,
    retries,
    rootId: h.root_id,
    parentId: h.parent_id,
    groupId: h.group,
    groupIndex: h.group_index,
    priority: options.priority ?? info.priority,
    chain: embed.chain ?? null,
    chord: embed.chord ?? null,
    link: embed.callbacks ?? undefined,
    linkError: embed.errbacks ?? undefined,
    headers: request.context().headers,
  };
  if (hard !== null) out.timeLimit = hard;
  if (soft !== null) out.softTimeLimit = soft;
  if (typeof h.expires === 'string') out.expires = h.expires;
  if (countdown !== undefined) out.countdown = countdown;
  else if (options.eta !== undefined) out.eta = options.eta;
  if (options.queue) out.queue = options.queue;
  else if (info.exchange === '' && info.routing_key) out.queue = info.routing_key;
  else {
    out.exchange = info.exchange;
    out.routingKey = info.routing_key;
  }
  return out;
}
