/**
 * `group`: signatures applied in parallel, with one GroupResult (`celery/canvas.py::group`). Members
 * share `group` (the group id); nested groups are unrolled. When the group is a chord header, each
 * member carries the chord body, and the last one sent records the chord size on Redis.
 */
import { randomUUID } from 'node:crypto';
import type { Celery } from '../app/celery.js';
import type { AsyncResult } from '../app/result.js';
import type { SignatureDict } from '../protocol/types.js';
import { GroupResult, type MemberResult } from './group-result.js';
import { maybeSignature, registerSignatureType, Signature, toWireOptions, type FreezeOptions, type SignatureLike, type SignatureOptions, type WireOptions } from './signature.js';
import type { AnyStep, InputOf, InputsOf, ResultOf, ResultsOf } from './types.js';

/** A chord's join: how the backend counts header parts (Redis's native join, when it has it). */
interface ChordSizeBackend {
  setChordSize?(groupId: string, size: number): Promise<void>;
}

export class Group<R extends unknown[] = unknown[], I = never> extends Signature<R, I, GroupResult<R>> {
  /** Phantom: marks groups, whose handle is a GroupResult. */
  declare readonly __group?: R;

  constructor(tasks: readonly SignatureLike[], options: WireOptions = {}, app?: Celery) {
    const sigs = tasks.map((t) => maybeSignature(t, app));
    super('celery.group', [], { tasks: sigs }, options, false, 'group', app ?? sigs.find((s) => s.app)?.app);
  }

  get tasks(): Signature[] {
    return this.kwargs.tasks as Signature[];
  }

  set tasks(tasks: Signature[]) {
    this.kwargs.tasks = tasks;
  }

  override setImmutable(immutable: boolean): void {
    for (const task of this.tasks) task.setImmutable(immutable);
  }

  /** Linking a group links its first task only, made immutable (Celery's `group.link`). */
  override link<C extends SignatureLike>(callback: C): C {
    const sig = maybeSignature(callback, this.app).clone().set({ immutable: true });
    this.tasks[0]?.link(sig);
    return callback;
  }

  /** Every member gets the errback, since any of them may fail. */
  override linkError<C extends SignatureLike>(errback: C): C {
    for (const task of this.tasks) task.linkError(errback);
    return errback;
  }

  /** Spread the members' countdowns (Celery's `skew`). */
  skew(start = 1, step = 1): this {
    this.tasks.forEach((task, i) => task.set({ countdown: start + i * step }));
    return this;
  }

  override applyAsync(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: SignatureOptions = {}): Promise<GroupResult<R>> {
    return this.applyWith(args, kwargs, toWireOptions(options));
  }

  override async applyWith(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: WireOptions = {}): Promise<GroupResult<R>> {
    if (options.link !== undefined && options.link !== null) throw new TypeError('Cannot add link to group: use a chord');
    if (options.link_error !== undefined && options.link_error !== null) throw new TypeError('Cannot add link to group: do that on individual tasks');
    if (this.tasks.length === 0) return this.freeze() as GroupResult<R>;
    const app = this.requireApp();
    const merged: WireOptions = { ...this.options, ...options };
    const groupId = (merged.task_id as string | undefined) ?? randomUUID();
    delete merged.task_id;
    merged.group_id = groupId;
    const rootId = (merged.root_id as string | null | undefined) ?? null;
    const prepared = prepareMembers(this.tasks, groupId, rootId, app);
    const results = await applyMembers(app, prepared, groupId, args, kwargs, merged);
    const only = results[0];
    if (results.length === 1 && only instanceof GroupResult) return only as GroupResult<R>;
    return new GroupResult(groupId, results, app) as GroupResult<R>;
  }

  override freeze(opts: FreezeOptions = {}): GroupResult<R> {
    const [gid, results] = this.freezeMembers(opts);
    return new GroupResult(gid, results, this.requireApp()) as GroupResult<R>;
  }

  /** Celery's `_freeze_group_tasks`: fixes the group id and every member's id and `group_index`. */
  freezeMembers(opts: FreezeOptions = {}): [string, MemberResult[]] {
    const o = this.options;
    let gid = o.task_id as string | undefined;
    if (!gid) gid = o.task_id = opts.groupId ?? randomUUID();
    if (opts.groupId) o.group_id = opts.groupId;
    if (opts.chord) o.chord = opts.chord;
    if (opts.groupIndex !== undefined && opts.groupIndex !== null) o.group_index = opts.groupIndex;
    if (!('root_id' in o)) o.root_id = opts.rootId ?? null;
    if (!('parent_id' in o)) o.parent_id = opts.parentId ?? null;
    const rootId = o.root_id as string | null;
    const parentId = o.parent_id as string | null;
    // Nested groups are unrolled with deque.extendleft, which reverses them, exactly as Celery does.
    const stack = [...this.tasks];
    const members: Signature[] = [];
    const results: MemberResult[] = [];
    let groupIndex = 0;
    while (stack.length > 0) {
      const task = maybeSignature(stack.shift()!, this.app).clone();
      if (task instanceof Group) {
        stack.unshift(...[...task.tasks].reverse());
        continue;
      }
      members.push(task);
      results.push(task.freeze({ groupId: opts.groupId, chord: opts.chord, rootId, parentId, groupIndex: groupIndex++ }) as MemberResult);
    }
    this.tasks = members;
    return [gid, results];
  }

  override toDict(): SignatureDict {
    return super.toDict();
  }
}

type Prepared = [Signature, MemberResult, string];

/** Celery's `group._prepared`: clone each member (unrolling nested groups) and freeze it. */
function prepareMembers(tasks: readonly Signature[], groupId: string, rootId: string | null, app: Celery): Prepared[] {
  const out: Prepared[] = [];
  for (const t of tasks) {
    const task = maybeSignature(t, app).clone();
    if (task instanceof Group) {
      out.push(...prepareMembers(task.tasks, groupId, rootId, app));
      continue;
    }
    out.push([task, task.freeze({ groupId, rootId }) as MemberResult, groupId]);
  }
  return out;
}

/** Celery's `group._apply_tasks`: send each member; the last one of a chord header sets the chord size. */
async function applyMembers(app: Celery, prepared: Prepared[], groupId: string, args: readonly unknown[], kwargs: Record<string, unknown>, options: WireOptions): Promise<MemberResult[]> {
  const { chord, ...rest } = options;
  const results: MemberResult[] = [];
  let chordSize = 0;
  for (const [index, [sig, result]] of prepared.entries()) {
    const chordObj = chord ?? sig.options.chord;
    chordSize += chordSizeOf(sig);
    if (chordObj && index === prepared.length - 1) {
      const backend = (await app.connectBackend()) as ChordSizeBackend | null;
      await backend?.setChordSize?.(groupId, chordSize);
    }
    await sig.applyWith(args, kwargs, chordObj ? { ...rest, chord: chordObj } : rest);
    results.push(result);
  }
  return results;
}

/**
 * How many completions a signature contributes to a chord (Celery's `_chord._descend`): one per
 * task, every member of a group, a chain's last non-empty step, a nested chord's body.
 */
export function chordSizeOf(sig: Signature | SignatureDict): number {
  const s = sig instanceof Signature ? sig : Signature.fromDict(sig);
  if (s.subtaskType === 'group') return ((s.kwargs.tasks as SignatureLike[]) ?? []).reduce((n: number, t) => n + chordSizeOf(t), 0);
  if (s.subtaskType === 'chain') {
    const tasks = (s.kwargs.tasks as SignatureLike[]) ?? [];
    for (let i = tasks.length - 1; i >= 0; i--) {
      const size = chordSizeOf(tasks[i]!);
      if (size > 0) return size;
    }
    return 0;
  }
  if (s.subtaskType === 'chord') return s.kwargs.body ? chordSizeOf(s.kwargs.body as SignatureLike) : 0;
  return 1;
}

/** A group of one is its only member (Celery's `maybe_unroll_group`). */
export function maybeUnrollGroup(group: Group): Signature {
  return group.tasks.length === 1 ? group.tasks[0]! : group;
}

/** `group(a, b, c)` or `group([a, b, c])`: results typed position by position. */
export function group<S extends readonly AnyStep[]>(...tasks: S): Group<ResultsOf<S>, InputsOf<S>>;
export function group<E extends AnyStep>(tasks: readonly E[]): Group<ResultOf<E>[], InputOf<E>>;
export function group(...tasks: unknown[]): Group {
  const list = (tasks.length === 1 && Array.isArray(tasks[0]) ? tasks[0] : tasks) as SignatureLike[];
  return new Group(list);
}

registerSignatureType('group', (d, app) => new Group((d.kwargs.tasks as SignatureLike[]) ?? [], { ...d.options }, app));

export type { AsyncResult };
