/**
 * A registered task. Its type comes from its function: `Task<[number, number], number>` for
 * `(x: number, y: number) => number`, so `delay`'s arguments and `get()`'s value are checked.
 */
import { Signature } from '../canvas/signature.js';
import type { Celery } from './celery.js';
import { bindArguments, parameterNames } from './params.js';
import type { ApplyOptions, TaskPublishDefaults } from './publish.js';
import { publishTask, publishTasks } from './publish.js';
import { AsyncResult } from './result.js';

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
}

export class Task<A extends unknown[] = unknown[], R = unknown> {
  readonly name: string;
  readonly paramNames: readonly (string | null)[];

  constructor(
    private readonly app: Celery,
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
  async applyAsync(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: ApplyOptions = {}): Promise<AsyncResult<R>> {
    const published = await publishTask(this.app, this.name, args, kwargs, options, this.options);
    return new AsyncResult<R>(published.id, this.app, this.name);
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

  /** Call with keyword arguments bound by parameter name, as a worker does for Python callers. */
  async runWith(args: readonly unknown[], kwargs: Record<string, unknown>): Promise<R> {
    return await this.callWith(args, kwargs);
  }

  /** As `runWith`, but a synchronous function's value comes back as is (the worker's hot path). */
  callWith(args: readonly unknown[], kwargs: Record<string, unknown>): R | Promise<R> {
    const all = bindArguments(this.name, this.paramNames, args, kwargs) as A;
    return this.fn(...all);
  }

  /** A signature with (partial) arguments: the parent's result is prepended when used as a callback. */
  s(...args: Partial<A>): Signature<R> {
    return new Signature<R>(this.name, args);
  }

  /** An immutable signature: its arguments are never extended with a parent's result. */
  si(...args: A): Signature<R> {
    return new Signature<R>(this.name, args, {}, {}, true);
  }
}
