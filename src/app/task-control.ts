/**
 * What a running task throws to steer the worker, as in Celery: `Retry` (run again later),
 * `Reject` (give the message back or drop it), `Ignore` (store nothing). They carry plain data only,
 * so they cross from a pool thread or child process unchanged.
 */
import { CeleriacError } from '../errors.js';
import { currentTask } from './context.js';

export interface RetryOptions {
  /** Seconds until the retry runs; default the task's `defaultRetryDelay` (180 s). */
  countdown?: number;
  /** When the retry runs; overrides `countdown`. */
  eta?: Date | string;
  /** The error that caused the retry: stored with RETRY, and raised once retries are exhausted. */
  exc?: unknown;
  /** Override the task's `maxRetries` for this call; null retries forever. */
  maxRetries?: number | null;
  /** Run the retry with other arguments. */
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  queue?: string;
  priority?: number;
}

/** Thrown to retry the running task. Build it with `retry()`. */
export class Retry extends CeleriacError {
  override name = 'Retry';
  readonly excType = 'Retry';
  readonly excModule = 'celery.exceptions';

  constructor(readonly options: RetryOptions = {}) {
    super(retryMessage(options));
  }
}

/** Thrown to reject the message: `requeue` gives it back to the broker, otherwise it is dropped or dead-lettered. */
export class Reject extends CeleriacError {
  override name = 'Reject';
  readonly excType = 'Reject';
  readonly excModule = 'celery.exceptions';

  constructor(
    readonly reason = 'rejected by the task',
    readonly requeue = false,
  ) {
    super(reason);
  }
}

/** Thrown to end the task without storing any state. */
export class Ignore extends CeleriacError {
  override name = 'Ignore';
  readonly excType = 'Ignore';
  readonly excModule = 'celery.exceptions';
}

/** Stored when a task retried more than its `maxRetries` without an `exc` to fail with. */
export class MaxRetriesExceededError extends CeleriacError {
  override name = 'MaxRetriesExceededError';
  readonly excType = 'MaxRetriesExceededError';
  readonly excModule = 'celery.exceptions';
}

/**
 * Retry the running task: `throw retry({ exc: err, countdown: 10 })`, Celery's
 * `raise self.retry(exc=err, countdown=10)`. Outside a task it throws at once.
 */
export function retry(options: RetryOptions = {}): Retry {
  if (!currentTask()) throw new CeleriacError('retry() called outside a running task');
  return new Retry(options);
}

function retryMessage(options: RetryOptions): string {
  const when = options.eta !== undefined ? `at ${options.eta instanceof Date ? options.eta.toISOString() : options.eta}` : options.countdown !== undefined ? `in ${options.countdown}s` : 'later';
  const cause = options.exc instanceof Error ? `: ${options.exc.name}(${JSON.stringify(options.exc.message)})` : options.exc !== undefined ? `: ${String(options.exc)}` : '';
  return `Retry ${when}${cause}`;
}
