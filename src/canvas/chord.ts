/**
 * `chord`: a header group and a body applied with the header's results in order
 * (`celery/canvas.py::_chord`). Every header task carries the body in its `chord` field. The join:
 * on a backend with a native join (Redis) the header tasks count themselves in
 * `celery-taskset-meta-<gid>.j/.s/.t`; elsewhere a `celery.chord_unlock` task polls the header, as
 * Celery's `fallback_chord_unlock` does, so Python and celeriac workers can both complete it.
 */
import { randomUUID } from 'node:crypto';
import type { Celery } from '../app/celery.js';
import { publishTask } from '../app/publish.js';
import type { AsyncResult } from '../app/result.js';
import { CeleriacError } from '../errors.js';
import type { SignatureDict } from '../protocol/types.js';
import { Group } from './group.js';
import { GroupResult, type MemberResult } from './group-result.js';
import { maybeSignature, registerSignatureType, Signature, toWireOptions, type FreezeOptions, type SignatureLike, type SignatureOptions, type WireOptions } from './signature.js';
import type { AnyStep, InputsOf, ResultOf, ResultsOf } from './types.js';

/** Celery's `result_chord_retry_interval` default: how often `celery.chord_unlock` looks again. */
export const CHORD_UNLOCK_COUNTDOWN = 1;

export class Chord<R = unknown, I = never> extends Signature<R, I, AsyncResult<R>> {
  constructor(header: Group | readonly SignatureLike[], body: SignatureLike | null, options: WireOptions = {}, app?: Celery, extraKwargs: Record<string, unknown> = { kwargs: {} }) {
    const headerTasks = header instanceof Group ? header.tasks : header.map((t) => maybeSignature(t, app));
    const bodySig = body ? maybeSignature(body, app) : null;
    const bound = app ?? headerTasks.find((t) => t.app)?.app ?? bodySig?.app;
    super('celery.chord', [], { ...extraKwargs, header: headerTasks, body: bodySig }, options, false, 'chord', bound);
  }

  /** The header: a list of signatures until frozen, a Group after (as in Celery). */
  get header(): Group | Signature[] {
    return this.kwargs.header as Group | Signature[];
  }

  set header(header: Group | Signature[]) {
    this.kwargs.header = header;
  }

  get body(): Signature | null {
    return (this.kwargs.body as Signature | null) ?? null;
  }

  set body(body: Signature | null) {
    this.kwargs.body = body;
  }

  private headerGroup(): Group {
    const header = this.header;
    return header instanceof Group ? header.clone() : new Group(header, {}, this.app);
  }

  override link<C extends SignatureLike>(callback: C): C {
    this.requireBody().link(callback);
    return callback;
  }

  override linkError<C extends SignatureLike>(errback: C): C {
    this.requireBody().linkError(errback);
    return errback;
  }

  /** Changes the header's mutability only, not the body's. */
  override setImmutable(immutable: boolean): void {
    const header = this.header;
    for (const task of header instanceof Group ? header.tasks : header) task.setImmutable(immutable);
  }

  override applyAsync(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: SignatureOptions = {}): Promise<AsyncResult<R>> {
    return this.applyWith(args, kwargs, toWireOptions(options));
  }

  override async applyWith(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: WireOptions = {}): Promise<AsyncResult<R>> {
    const { task_id: taskIdOption, ...opts } = options;
    const partial = args.length && !this.immutable ? [...args, ...this.args] : this.args;
    const bodyGiven = kwargs.body as SignatureLike | undefined;
    const body = (bodyGiven ? maybeSignature(bodyGiven, this.app) : this.requireBody()).cloneWith([], {}, opts);
    const merged: WireOptions = { ...this.options, ...opts };
    const optionTaskId = merged.task_id as string | undefined;
    delete merged.task_id;
    const taskId = (taskIdOption as string | undefined) ?? optionTaskId;
    return (await this.run(this.headerGroup(), body, partial, taskId ?? null, merged)) as AsyncResult<R>;
  }

  /** Celery's `_chord.run`: freeze body and header, set up the join, send the header. */
  private async run(header: Group, body: Signature, partialArgs: readonly unknown[], taskId: string | null, options: WireOptions): Promise<MemberResult> {
    const app = this.requireApp();
    const groupId = (header.options.task_id as string | undefined) ?? randomUUID();
    const rootId = (body.options.root_id as string | undefined) ?? null;
    const opts: WireOptions = { ...options };
    Object.assign(body.options, opts);
    const bodyResult = body.freeze({ id: taskId, rootId }) as MemberResult;
    // Chains and chords are not passed to the header tasks (Celery #3771).
    delete opts.chain;
    delete opts.chord;
    const [gid, results] = header.freezeMembers({ groupId, chord: body, rootId });
    let headerResult: MemberResult;
    if (header.tasks.length > 0) {
      await setUpJoin(app, gid, results, body);
      headerResult = (await header.applyWith(partialArgs, {}, { ...opts, task_id: groupId })) as MemberResult;
    } else {
      // An empty header never completes by itself: the body runs now, with no results.
      await body.applyWith([[]]);
      headerResult = new GroupResult(gid, results, app);
    }
    bodyResult.parent = headerResult;
    return bodyResult;
  }

  override freeze(opts: FreezeOptions = {}): AsyncResult<R> {
    if (!(this.header instanceof Group)) this.header = new Group(this.header, {}, this.app);
    const header = this.header as Group;
    const body = this.requireBody();
    const headerResult = header.freeze({ parentId: opts.parentId, rootId: opts.rootId, chord: body }) as MemberResult;
    const bodyResult = body.freeze({ id: opts.id, rootId: opts.rootId, chord: opts.chord, groupId: opts.groupId, groupIndex: opts.groupIndex }) as MemberResult;
    const seen = new Set<string>();
    let node: MemberResult | null = bodyResult;
    while (node) {
      if (seen.has(node.id)) throw new CeleriacError('Recursive result parents');
      seen.add(node.id);
      if (!node.parent) {
        node.parent = headerResult;
        break;
      }
      node = node.parent;
    }
    this.options.task_id = header.options.task_id;
    return bodyResult as AsyncResult<R>;
  }

  private requireBody(): Signature {
    if (!this.body) throw new CeleriacError('chord has no body');
    return this.body;
  }
}

/**
 * `apply_chord`: with a native join nothing is needed beyond the chord size the last header task
 * records (the GroupResult is saved when the header holds nested groups); otherwise a
 * `celery.chord_unlock` task is sent, routed like the body, one second from now.
 */
async function setUpJoin(app: Celery, groupId: string, results: MemberResult[], body: Signature): Promise<void> {
  const backend = await app.connectBackend();
  if (!backend) throw new CeleriacError('Starting chords requires a result backend to be configured');
  if ((backend as { supportsNativeJoin?: boolean }).supportsNativeJoin) {
    if (results.some((r) => r instanceof GroupResult)) await new GroupResult(groupId, results, app).save();
    return;
  }
  const task = app.getTask(body.task);
  const route = app.router.route(body.task, [], {});
  const queue = (body.options.queue as string | undefined) ?? task?.options.queue ?? route?.queue ?? app.conf.taskDefaultQueue;
  const priority = (body.options.priority as number | undefined) ?? task?.options.priority ?? 0;
  const kwargs = { interval: null, max_retries: null, result: results.map((r) => r.asTuple()) };
  await publishTask(app, 'celery.chord_unlock', [groupId, body.toDict()], kwargs, { countdown: CHORD_UNLOCK_COUNTDOWN, queue, priority, ignoreResult: true });
}

/** `chord(header, body)`: the body must accept the list of header results. */
export function chord<R extends unknown[], GI, B extends AnyStep>(header: Group<R, GI>, body: B & { readonly __accepts?: (value: R) => void }): Chord<ResultOf<B>, GI>;
export function chord<const S extends readonly AnyStep[], B extends AnyStep>(header: S, body: B & { readonly __accepts?: (value: ResultsOf<S>) => void }): Chord<ResultOf<B>, InputsOf<S>>;
/** Untyped: signatures in their dict form. */
export function chord(header: readonly SignatureDict[], body?: SignatureDict | null): Chord;
export function chord(header: unknown, body: unknown = null): Chord {
  return new Chord(header as Group | SignatureLike[], body as SignatureLike | null);
}

registerSignatureType('chord', (d, app) => {
  const { header, body, ...rest } = d.kwargs as { header?: unknown; body?: SignatureDict | null; [k: string]: unknown };
  const headerSigs = Array.isArray(header) ? (header as SignatureLike[]) : header && typeof header === 'object' ? headerTasksOf(Signature.fromDict(header as SignatureDict, app)) : [];
  return new Chord(headerSigs, body ?? null, { ...d.options }, app, rest);
});

/** Celery's `_maybe_group`: a group's or chain's tasks, or the signature alone. */
function headerTasksOf(sig: Signature): Signature[] {
  if (sig.subtaskType === 'group' || sig.subtaskType === 'chain') return sig.kwargs.tasks as Signature[];
  return [sig];
}

export type { AsyncResult };
