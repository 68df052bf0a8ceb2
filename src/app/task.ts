/**
 * A registered task. Its type comes from its function: `Task<[number, number], number>` for
 * `(x: number, y: number) => number`, so `delay`'s arguments and `get()`'s value are checked.
 */
import { chunks, Signature, starmap, xmap, type Chunks, type MapSignature } from '../canvas/index.js';
import type { DropFirst, FirstOf, IsLoose } from '../canvas/types.js';
import type { Celery } from './celery.js';
import { bindArguments, parameterNames } from './params.js';
import type { ApplyOptions, TaskPublishDefaults } from './publish.js';
import { publishTask, publishTasks } from './publish.js';
import { AsyncResult } from './result.js';
import { backoffCountdown } from '../worker/limits/backoff.js';
import { currentTask } from './context.js';
import { Ignore, Reject, Retry, type RetryOptions } from './task-control.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskFunction = (...args: any[]) => unknown;

export interface TaskOptions extends TaskPublishDefaults {
  name: string;
  /** Store STARTED when a worker begins the task (default from `taskTrackStarted`). */
  trackStarted?: boolean;
  /** Ack after the task returns (default from `taskAcksLate`). */
  acksLate?: boolean;
  acksOnFailureOrTimeout?: boolean;
  /** Names of the function's parameters, for keyword arguments; read from the source when omitted. */
  params?: string[];
  /** Retries before the task fails with its error (default 3); null retries forever. */
  maxRetries?: number | null;
  /** Seconds before a retry when none is given (default 180). */
  defaultRetryDelay?: number;
  /** Errors that retry the task by themselves (Celery's `autoretry_for`): classes or predicates. */
  autoretryFor?: (ErrorClass | ((error: unknown) => boolean))[];
  /** Options for automatic retries (Celery's `retry_kwargs`). */
  retryKwargs?: Pick<RetryOptions, 'countdown' | 'maxRetries'>;
  /** Exponential backoff for automatic retries: true is a factor of 1 s, a number the factor in seconds. */
  retryBackoff?: boolean | number;
  /** Seconds; the backoff never exceeds this (default 600). */
  retryBackoffMax?: number;
  /** Randomise the backoff in [0, countdown] (default true). */
  retryJitter?: boolean;
  /** Per-worker rate limit in Celery's syntax: `'10/s'`, `'200/m'`, `'100/h'`, or tasks per second. */
  rateLimit?: string | number | null;
  /** A rate limit shared by every worker of the cluster, kept in Redis (same syntax). */
  globalRateLimit?: string | number | null;
  /** With `acksLate`, a task whose pool worker died goes back to the queue instead of failing. */
  rejectOnWorkerLost?: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ErrorClass = abstract new (...args: any[]) => unknown;

export class Task<A extends unknown[] = unknown[], R = unknown> {
  readonly name: string;
  readonly paramNames: readonly (string | null)[];

  constructor(
    readonly app: Celery,
    readonly options: TaskOptions,
    readonly fn: (...args: A) => R | Promise<R>,
  ) {
    this.name = options.name;
    this.paramNames = options.params ?? parameterNames(fn as TaskFunction);
  }

  /** Send the task with positional arguments and default options. */
  delay(...args: A): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }

  /** Send the task with arguments, keyword arguments and options (Celery's `apply_async`). */
  applyAsync(args?: A, kwargs?: undefined, options?: ApplyOptions): Promise<AsyncResult<R>>;
  applyAsync(args: Partial<A> | [], kwargs: Record<string, unknown>, options?: ApplyOptions): Promise<AsyncResult<R>>;
  applyAsync(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}): Promise<AsyncResult<R>> {
    return publishTask(this.app, this.name, args, kwargs, options, this.options).then((published) => new AsyncResult<R>(published.id, this.app, this.name));
  }

  /**
   * Send many calls at once (BullMQ's `addBulk`): one argument list per call, the same options for
   * all. Brokers that can store a batch in one operation do (Redis: one LPUSH per list).
   */
  async delayMany(argsList: readonly A[], options: ApplyOptions = {}): Promise<AsyncResult<R>[]> {
    const published = await publishTasks(this.app, this.name, argsList.map((args) => ({ args })), options, this.options);
    return published.map((p) => new AsyncResult<R>(p.id, this.app, this.name));
  }

  /** Call the function here, in this process, without a broker. */
  async run(...args: A): Promise<R> {
    return await this.fn(...args);
  }

  /**
   * Call with keyword arguments bound by parameter name, as a worker does for Python callers. An
   * error listed in `autoretryFor` becomes a `Retry` here, where the error's class is known (a pool
   * thread or child process included), with the backoff computed from the request's retries.
   */
  async runWith(args: readonly unknown[], kwargs: Record<string, unknown>): Promise<R> {
    return await this.callWith(args, kwargs);
  }

  /** As `runWith`, but a synchronous function's value comes back as is (the worker's hot path). */
  callWith(args: readonly unknown[], kwargs: Record<string, unknown>): R | Promise<R> {
    const all = bindArguments(this.name, this.paramNames, args, kwargs) as A;
    if (!this.options.autoretryFor?.length) return this.fn(...all);
    return this.callWithAutoretry(all);
  }

  private async callWithAutoretry(all: A): Promise<R> {
    try {
      return await this.fn(...all);
    } catch (error) {
      if (error instanceof Retry || error instanceof Reject || error instanceof Ignore || !this.retriesOn(error)) throw error;
      const o = this.options;
      const retries = currentTask()?.retries ?? 0;
      const backoff = o.retryBackoff ? backoffCountdown({ retryBackoff: o.retryBackoff, retryBackoffMax: o.retryBackoffMax, retryJitter: o.retryJitter }, retries) : null;
      throw new Retry({ ...o.retryKwargs, ...(backoff !== null ? { countdown: backoff } : {}), exc: error });
    }
  }

  private retriesOn(error: unknown): boolean {
    return (this.options.autoretryFor ?? []).some((match) =>
      isErrorClass(match) ? error instanceof match : (match as (e: unknown) => boolean)(error),
    );
  }

  /**
   * A signature. With every argument it is complete; without the first it awaits the parent's result
   * there (`mul.s(3)` in a chain gets `mul(previous, 3)`), and a chain checks that the types fit.
   */
  s(...args: A): Signature<R, IsLoose<A> extends true ? any : never, AsyncResult<R>>; // eslint-disable-line @typescript-eslint/no-explicit-any
  s(...args: DropFirst<A>): Signature<R, FirstOf<A>, AsyncResult<R>>;
  s(...args: Partial<A>): Signature<R, never, AsyncResult<R>>;
  s(...args: unknown[]): Signature<R, unknown, AsyncResult<R>> {
    return new Signature<R, unknown, AsyncResult<R>>(this.name, args, {}, {}, false, null, this.app);
  }

  /** An immutable signature: its arguments are never extended with a parent's result. */
  si(...args: A): Signature<R, unknown, AsyncResult<R>> {
    return new Signature<R, unknown, AsyncResult<R>>(this.name, args, {}, {}, true, null, this.app);
  }

  private bare(): Signature<R, never, AsyncResult<R>> {
    return new Signature<R, never, AsyncResult<R>>(this.name, [], {}, {}, false, null, this.app);
  }

  /** `celery.map` over `items`: one message, the task called once per item in the worker. */
  map(items: readonly A[0][]): MapSignature<R> {
    return xmap(this.bare(), items);
  }

  /** `celery.starmap` over argument lists. */
  starmap(items: readonly A[]): MapSignature<R> {
    return starmap(this.bare(), items as unknown as unknown[][]);
  }

  /** The argument lists in chunks of `n`, one `celery.starmap` message per chunk, as a group. */
  chunks(items: readonly A[], n: number): Chunks<R> {
    return chunks(this.bare(), items as unknown as unknown[][], n);
  }
}

/** Classes have a prototype that is not Function.prototype's; arrow predicates have none. */
function isErrorClass(value: unknown): value is ErrorClass {
  return typeof value === 'function' && value.prototype !== undefined && (value === Error || value.prototype instanceof Error);
}
