/**
 * `chain`: each step applied with the previous result prepended (`celery/canvas.py::_chain`). Only
 * the first task is sent; the rest travel in its message's `chain` field in reverse order, and each
 * worker pops the last one. A group followed by a step becomes a chord, as in Celery.
 */
import type { Celery } from '../app/celery.js';
import type { AsyncResult } from '../app/result.js';
import type { SignatureDict } from '../protocol/types.js';
import { Chord } from './chord.js';
import { Group, maybeUnrollGroup } from './group.js';
import { GroupResult, type MemberResult } from './group-result.js';
import { maybeSignature, registerPipe, registerSignatureType, Signature, toWireOptions, type FreezeOptions, type HandleOf, type SignatureLike, type SignatureOptions, type WireOptions } from './signature.js';
import type { AnyStep, CheckedChain, InputOf, LastOf, ResultOf } from './types.js';

export class Chain<R = unknown, I = never, H = AsyncResult<R>> extends Signature<R, I, H> {
  constructor(tasks: readonly SignatureLike[], options: WireOptions = {}, app?: Celery) {
    const sigs = tasks.map((t) => maybeSignature(t, app));
    super('celery.chain', [], { tasks: sigs }, options, false, 'chain', app ?? sigs.find((s) => s.app)?.app);
  }

  get tasks(): Signature[] {
    return this.kwargs.tasks as Signature[];
  }

  set tasks(tasks: Signature[]) {
    this.kwargs.tasks = tasks;
  }

  /** The steps, cloned, each given the chain's own errbacks (Celery's `unchain_tasks`). */
  unchainTasks(): Signature[] {
    const tasks = this.tasks.map((t) => t.clone());
    const errbacks = this.options.link_error;
    for (const errback of Array.isArray(errbacks) ? errbacks : errbacks ? [errbacks] : []) {
      for (const task of tasks) task.linkError(errback as SignatureLike);
    }
    return tasks;
  }

  override applyAsync(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: SignatureOptions = {}): Promise<H> {
    return this.applyWith(args, kwargs, toWireOptions(options));
  }

  override async applyWith(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: WireOptions = {}): Promise<H> {
    return (await this.run(args, kwargs, { ...this.options, ...options })) as H;
  }

  /** Celery's `_chain.run`. Resolves with the last step's result, whose `parent`s lead back to the first. */
  async run(args: readonly unknown[], kwargs: Record<string, unknown>, options: WireOptions): Promise<MemberResult | undefined> {
    const { group_id, chord, task_id, link, link_error, root_id, parent_id, group_index, ...rest } = options;
    const app = this.requireApp();
    const partial = args.length && !this.immutable ? [...args, ...this.args] : this.args;
    const [tasks, results] = prepareSteps(app, partial, kwargs, this.tasks, {
      rootId: (root_id as string) ?? null,
      linkError: link_error,
      lastTaskId: (task_id as string) ?? null,
      groupId: (group_id as string) ?? null,
      chordBody: (chord as Signature | SignatureDict) ?? null,
      groupIndex: (group_index as number) ?? null,
      clone: true,
    });
    if (results.length === 0) return undefined;
    if (link) tasks[0]!.extendListOption('link', link);
    const first = tasks.pop()!;
    const chainField = Array.isArray(rest.chain) ? [...(rest.chain as unknown[]), ...tasks] : tasks;
    // Celery relies on the worker's current task for the first step's lineage; a celeriac worker
    // applies callbacks outside the task's context, so the lineage is passed on explicitly.
    const firstOptions: WireOptions = { ...rest, chain: chainField };
    if (parent_id && !first.options.parent_id) firstOptions.parent_id = parent_id;
    if (root_id && !first.options.root_id) firstOptions.root_id = root_id;
    const applied = (await first.applyWith([], {}, firstOptions)) as MemberResult;
    return tasks.length ? results[0] : applied;
  }

  /** Freezes every step in place and returns the last step's result. */
  override freeze(opts: FreezeOptions = {}): H {
    const [, results] = prepareSteps(this.requireApp(), this.args, this.kwargs, this.tasks, {
      rootId: opts.rootId ?? null,
      parentId: opts.parentId ?? null,
      lastTaskId: opts.id ?? null,
      groupId: opts.groupId ?? null,
      chordBody: opts.chord ?? null,
      groupIndex: opts.groupIndex ?? null,
      clone: false,
    });
    return results[0] as H;
  }
}

interface StepOptions {
  rootId: string | null;
  parentId?: string | null;
  linkError?: unknown;
  lastTaskId: string | null;
  groupId: string | null;
  chordBody: Signature | SignatureDict | null;
  groupIndex: number | null;
  clone: boolean;
}

/**
 * Celery's `_chain.prepare_steps`, step for step: walks the steps from the last, splices nested
 * chains, upgrades a group followed by a step to a chord, freezes each step (the last one with the
 * chain's id, group and chord), links results to their parents, and returns the steps in reverse
 * order (the message's `chain` field) with their results.
 */
export function prepareSteps(app: Celery, args: readonly unknown[], kwargs: Record<string, unknown>, steps: readonly SignatureLike[], o: StepOptions): [Signature[], MemberResult[]] {
  const stack = [...steps];
  let prevTask: Signature | null = null;
  let prevRes: MemberResult | null = null;
  const tasks: Signature[] = [];
  const results: MemberResult[] = [];
  let i = 0;
  while (stack.length > 0) {
    let task = maybeSignature(stack.pop()!, app);
    const isFirst = stack.length === 0;
    const isLast = i === 0;
    if (task instanceof Group) task = maybeUnrollGroup(task);
    if (o.clone) task = isFirst ? task.cloneWith(args, kwargs) : task.clone();
    else if (isFirst && !task.immutable) task.args = [...args, ...task.args];
    if (task instanceof Chain) {
      stack.push(...task.tasks);
      continue;
    }
    if (task instanceof Group && prevTask) {
      tasks.pop();
      results.pop();
      const options: WireOptions = { root_id: o.rootId };
      if (prevRes instanceof Object && !(prevRes instanceof GroupResult)) options.task_id = prevRes.id;
      task = new Chord(task, prevTask, options, app);
      // The popped step is now the chord's body: its result is the chord's, not a parent of it.
      prevRes = null;
    }
    const res = (isLast
      ? task.freeze({ id: o.lastTaskId, rootId: o.rootId, groupId: o.groupId, chord: o.chordBody, groupIndex: o.groupIndex })
      : task.freeze({ rootId: o.rootId })) as MemberResult;
    i++;
    if (prevTask && prevRes && !prevRes.parent) prevRes.parent = res;
    if (o.linkError) for (const errback of Array.isArray(o.linkError) ? o.linkError : [o.linkError]) task.linkError(errback as SignatureLike);
    tasks.push(task);
    results.push(res);
    prevTask = task;
    prevRes = res;
    if (task instanceof Chord) {
      // A chord's result is its body's; the next (earlier) step is the parent of the header.
      let node: MemberResult = res;
      while (node.parent) node = node.parent;
      prevRes = node;
    }
  }
  return [tasks, results];
}

/**
 * `chain(a, b, c)`: typed; each step must accept the previous step's result, and the chain's
 * result type is the last step's. `chain([a, b, c])` takes a list (untyped).
 */
export function chain<S extends readonly [AnyStep, ...AnyStep[]]>(...steps: S extends CheckedChain<S> ? S : CheckedChain<S>): Chain<ResultOf<LastOf<S>>, InputOf<S[0]>, HandleOf<LastOf<S>>>;
export function chain(steps: readonly SignatureLike[]): Chain;
export function chain(...steps: unknown[]): Chain {
  const list = (steps.length === 1 && Array.isArray(steps[0]) ? steps[0] : steps) as SignatureLike[];
  // Celery builds chain(a, b, c) as a | b | c, so the same upgrades apply.
  let out: Signature = new Chain([]);
  for (const step of list) out = pipeSignatures(out, maybeSignature(step));
  return out instanceof Chain ? out : new Chain([out]);
}

/** Celery's `__or__` for every pair of canvas types. */
export function pipeSignatures(left: Signature, right: Signature): Signature {
  const app = left.app ?? right.app;
  if (left instanceof Group) return new Chord(left, right, {}, app);
  if (left instanceof Chord && !(right instanceof Group) && !(right instanceof Chain)) {
    const sig = left.clone();
    sig.body = pipeSignatures(sig.body!, right);
    return sig;
  }
  if (left instanceof Chain) {
    if (right instanceof Group) {
      const tasks = left.unchainTasks();
      const other = maybeUnrollGroup(right);
      return tasks.length ? new Chain([...tasks, other], {}, app) : other;
    }
    if (right instanceof Chain) return new Chain([...left.unchainTasks(), ...right.unchainTasks()], {}, app);
    const last = left.tasks[left.tasks.length - 1];
    if (last instanceof Group) {
      const sig = left.clone();
      sig.tasks[sig.tasks.length - 1] = new Chord(sig.tasks[sig.tasks.length - 1] as Group, right, {}, app);
      return sig;
    }
    if (last instanceof Chord) {
      const sig = left.clone();
      const chordSig = sig.tasks[sig.tasks.length - 1] as Chord;
      chordSig.body = pipeSignatures(chordSig.body!, right);
      return sig;
    }
    return new Chain([...left.unchainTasks(), right], {}, app);
  }
  if (right instanceof Chain) return new Chain([left, ...right.unchainTasks()], {}, app);
  if (right instanceof Group) return new Chain([left, maybeUnrollGroup(right)], {}, app);
  return new Chain([left, right], {}, app);
}

registerPipe(pipeSignatures);
registerSignatureType('chain', (d, app) => new Chain((d.kwargs.tasks as SignatureLike[]) ?? [], { ...d.options }, app));

export type { AsyncResult };
