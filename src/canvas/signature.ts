/**
 * A task signature: a task name with arguments and options, in Celery's dict form
 * (`{task, args, kwargs, options, subtask_type, immutable}`, `celery/canvas.py::Signature`), so it
 * travels in `link`, `link_error`, `chain` and `chord` fields and Python rebuilds it. Options are
 * kept under Celery's own (snake_case) names; the public methods take camelCase and translate.
 * Chains, groups and chords subclass this and register themselves for `signature(dict)`.
 */
import { taskId } from '../utils/uuid.js';
import type { Celery } from '../app/celery.js';
import { AsyncResult } from '../app/result.js';
import { CeleriacError } from '../errors.js';
import type { SignatureDict } from '../protocol/types.js';
import { sendTaskSignature } from './apply.js';
import type { GroupResult } from './group-result.js';
import type { AnyStep, ResultOf } from './types.js';

/** Options under Celery's names (`task_id`, `link_error`, …), as they appear in the dict form. */
export type WireOptions = Record<string, unknown>;

/** Options in camelCase; any key is accepted and stored under its snake_case name. */
export interface SignatureOptions {
  taskId?: string;
  queue?: string;
  exchange?: string;
  routingKey?: string;
  priority?: number;
  /** Seconds from now. */
  countdown?: number;
  eta?: Date | string;
  expires?: number | Date | string;
  timeLimit?: number;
  softTimeLimit?: number;
  ignoreResult?: boolean;
  shadow?: string;
  headers?: Record<string, unknown>;
  link?: SignatureLike | SignatureLike[];
  linkError?: SignatureLike | SignatureLike[];
  rootId?: string;
  parentId?: string;
  groupId?: string;
  groupIndex?: number;
  [option: string]: unknown;
}

/** What `freeze` fixes before sending: ids and the workflow fields (`Signature.freeze`). */
export interface FreezeOptions {
  id?: string | null;
  groupId?: string | null;
  chord?: Signature | SignatureDict | null;
  rootId?: string | null;
  parentId?: string | null;
  groupIndex?: number | null;
}

export type SignatureLike = Signature | SignatureDict;

/** The handle a step's `applyAsync` returns: a GroupResult for groups, an AsyncResult otherwise. */
export type HandleOf<S> = S extends { readonly __group?: infer R extends unknown[] } ? GroupResult<R> : AsyncResult<ResultOf<S>>;

type FromDict = (dict: SignatureDict, app?: Celery) => Signature;
const TYPES = new Map<string, FromDict>();
let pipeHook: ((left: Signature, right: Signature) => Signature) | null = null;

/** Chains, groups, chords and maps register how they are rebuilt from their dict form. */
export function registerSignatureType(subtaskType: string, fromDict: FromDict): void {
  TYPES.set(subtaskType, fromDict);
}

/** chain.ts provides Celery's `|` rules (kept there so this module does not import its subclasses). */
export function registerPipe(hook: (left: Signature, right: Signature) => Signature): void {
  pipeHook = hook;
}

export class Signature<R = unknown, I = never, H = unknown> implements AnyStep {
  /** Phantom: the result type, for typed composition. */
  declare readonly __result?: R;
  /** Phantom: what this step accepts from its parent. */
  declare readonly __accepts?: (value: I) => void;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: WireOptions;
  immutable: boolean;
  subtaskType: string | null;
  app: Celery | undefined;

  constructor(
    task: string,
    args: readonly unknown[] = [],
    kwargs: Readonly<Record<string, unknown>> = {},
    options: Readonly<WireOptions> = {},
    immutable = false,
    subtaskType: string | null = null,
    app?: Celery,
  ) {
    this.task = task;
    this.args = [...args];
    this.kwargs = { ...kwargs };
    this.options = { ...options };
    this.immutable = immutable;
    this.subtaskType = subtaskType;
    this.app = app;
  }

  /** The task id, once frozen or set (`options.task_id`). */
  get id(): string | undefined {
    return this.options.task_id as string | undefined;
  }

  get name(): string {
    return this.task;
  }

  /** Merge options into this signature and return it (Celery's `set`, which also mutates). */
  set(options: SignatureOptions & { immutable?: boolean }): this {
    const { immutable, ...rest } = options;
    if (immutable !== undefined) this.setImmutable(immutable);
    Object.assign(this.options, toWireOptions(rest));
    return this;
  }

  setImmutable(immutable: boolean): void {
    this.immutable = immutable;
  }

  /** A deep copy; `args` are prepended and `kwargs` merged unless immutable (Celery's `clone`). */
  clone(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: SignatureOptions = {}): this {
    return this.cloneWith(args, kwargs, toWireOptions(options));
  }

  /** `clone` with options already under Celery's names. */
  cloneWith(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: WireOptions = {}): this {
    const [a, k, o] = this.merge(args, kwargs, options);
    const copy = Signature.fromDict(
      { task: this.task, args: plain(a) as unknown[], kwargs: plain(k) as Record<string, unknown>, options: plain(o) as WireOptions, subtask_type: this.subtaskType, immutable: this.immutable },
      this.app,
    );
    return copy as this;
  }

  /** Send with positional arguments prepended to the signature's own. */
  delay(...args: unknown[]): Promise<H> {
    return this.applyAsync(args);
  }

  /** Send (Celery's `apply_async`): arguments are prepended, kwargs and options merged. */
  applyAsync(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: SignatureOptions = {}): Promise<H> {
    return this.applyWith(args, kwargs, toWireOptions(options));
  }

  /** `applyAsync` with options under Celery's names; chains, groups and chords override this. */
  async applyWith(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: WireOptions = {}): Promise<H> {
    const opts = dropNulls(options);
    const [a, k, o] = args.length || Object.keys(kwargs).length || Object.keys(opts).length ? this.merge(args, kwargs, opts) : [this.args, this.kwargs, this.options];
    const app = this.requireApp();
    const id = await sendTaskSignature(app, this.task, a, k, o);
    return new AsyncResult(id, app, this.task) as H;
  }

  /** Celery's `_merge`: `group_id` already set is kept; immutable signatures keep their arguments. */
  merge(args: readonly unknown[], kwargs: Record<string, unknown>, options: WireOptions | null): [unknown[], Record<string, unknown>, WireOptions] {
    let merged = this.options;
    if (options) {
      merged = { ...this.options };
      for (const [key, value] of Object.entries(options)) {
        if (key === 'group_id' && key in this.options) continue;
        merged[key] = value;
      }
    }
    if (this.immutable) return [this.args, this.kwargs, merged];
    return [args.length ? [...args, ...this.args] : this.args, Object.keys(kwargs).length ? { ...this.kwargs, ...kwargs } : this.kwargs, merged];
  }

  /**
   * Fix the task id (and workflow fields) before sending, returning the result handle. Mutates the
   * options as Celery's `freeze` does: send a frozen signature once.
   */
  freeze(opts: FreezeOptions = {}): H {
    const o = this.options;
    let tid = o.task_id as string | undefined;
    if (!tid) tid = o.task_id = opts.id ?? taskId();
    if (opts.rootId) o.root_id = opts.rootId;
    if (opts.parentId) o.parent_id = opts.parentId;
    const app = this.requireApp();
    if (!('reply_to' in o)) o.reply_to = app.oid;
    if (opts.groupId && !('group_id' in o)) o.group_id = opts.groupId;
    if (opts.chord) o.chord = opts.chord;
    if (opts.groupIndex !== undefined && opts.groupIndex !== null) o.group_index = opts.groupIndex;
    return new AsyncResult(tid, app, this.task) as H;
  }

  /** Add a callback applied with this task's result when it succeeds; returns the callback. */
  link<C extends SignatureLike>(callback: C): C {
    return this.appendToListOption('link', callback);
  }

  /** Add an errback applied when this task fails; returns the errback. */
  linkError<C extends SignatureLike>(errback: C): C {
    return this.appendToListOption('link_error', errback);
  }

  /** `linkError` that returns this signature, for chaining calls. */
  onError(errback: SignatureLike): this {
    this.linkError(errback);
    return this;
  }

  /** Celery's `|`: this, then `next` with this result prepended. */
  pipe<N extends AnyStep>(next: N & { readonly __accepts?: (value: R) => void }): Signature<ResultOf<N>, I, HandleOf<N>> {
    if (!pipeHook) throw new CeleriacError('canvas is not loaded: import celeriac (or src/canvas/index.js)');
    return pipeHook(this, next as unknown as Signature) as Signature<ResultOf<N>, I, HandleOf<N>>;
  }

  appendToListOption<C>(key: string, value: C): C {
    const items = this.listOption(key);
    if (!items.some((item) => item === value || sameDict(item, value))) items.push(value);
    return value;
  }

  extendListOption(key: string, values: unknown): void {
    this.listOption(key).push(...(Array.isArray(values) ? values : [values]));
  }

  private listOption(key: string): unknown[] {
    const current = this.options[key];
    if (Array.isArray(current)) return current;
    const items = current === undefined || current === null ? [] : [current];
    this.options[key] = items;
    return items;
  }

  /** Bind to an app (for signatures rebuilt from dicts); returns this. */
  bind(app: Celery): this {
    this.app = app;
    return this;
  }

  requireApp(): Celery {
    if (!this.app) throw new CeleriacError(`signature ${this.task} is not bound to an app: build it with task.s() or signature(dict, app)`);
    return this.app;
  }

  toDict(): SignatureDict {
    return {
      task: this.task,
      args: plain(this.args) as unknown[],
      kwargs: plain(this.kwargs) as Record<string, unknown>,
      options: plain(this.options) as WireOptions,
      subtask_type: this.subtaskType,
      immutable: this.immutable,
    };
  }

  toJSON(): SignatureDict {
    return this.toDict();
  }

  /** Rebuild a signature, or any nested canvas, from Celery's dict form. */
  static fromDict(dict: SignatureDict, app?: Celery): Signature {
    const rebuild = dict.subtask_type ? TYPES.get(dict.subtask_type) : undefined;
    if (rebuild) return rebuild(dict, app);
    return new Signature(dict.task, dict.args ?? [], dict.kwargs ?? {}, dict.options ?? {}, Boolean(dict.immutable), dict.subtask_type ?? null, app);
  }
}

/** Celery's `signature(dict)`: rebuild a canvas from its dict form (a Signature is cloned). */
export function signature(value: SignatureLike, app?: Celery): Signature {
  if (value instanceof Signature) return value.clone();
  if (!isSignatureDict(value)) throw new TypeError(`not a signature: ${JSON.stringify(value)?.slice(0, 200)}`);
  return Signature.fromDict(value, app);
}

/** Celery's `maybe_signature`: a Signature as is (bound to `app` when it has none), a dict rebuilt. */
export function maybeSignature(value: SignatureLike, app?: Celery): Signature {
  const sig = value instanceof Signature ? value : Signature.fromDict(value, app);
  if (app && !sig.app) sig.app = app;
  return sig;
}

export function isSignatureDict(value: unknown): value is SignatureDict {
  return typeof value === 'object' && value !== null && typeof (value as SignatureDict).task === 'string';
}

export function toSignatureDict(sig: SignatureLike): SignatureDict {
  return sig instanceof Signature ? sig.toDict() : sig;
}

/** JSON-ready deep copy: nested signatures become their dicts. */
export function plain(value: unknown): unknown {
  if (value instanceof Signature) return value.toDict();
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object' && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}

/** camelCase option names to Celery's: `taskId` → `task_id`, `linkError` → `link_error`. */
export function toWireOptions(options: Record<string, unknown>): WireOptions {
  const out: WireOptions = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const wire = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    out[wire] = value instanceof Date ? value.toISOString() : value;
  }
  return out;
}

/** Celery drops options whose value is None before applying. */
export function dropNulls(options: WireOptions): WireOptions {
  const out: WireOptions = {};
  for (const [k, v] of Object.entries(options)) if (v !== null && v !== undefined) out[k] = v;
  return out;
}

function sameDict(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(plain(a)) === JSON.stringify(plain(b));
}
