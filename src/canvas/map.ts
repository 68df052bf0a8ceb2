/**
 * `map`, `starmap` and `chunks` (`celery/canvas.py::xmap/xstarmap/chunks`): one message that runs a
 * task over many argument sets in the worker (`celery.map`, `celery.starmap`), and `chunks`, a group
 * of starmaps over slices of the list.
 */
import type { Celery } from '../app/celery.js';
import type { AsyncResult } from '../app/result.js';
import { Group } from './group.js';
import type { GroupResult } from './group-result.js';
import { maybeSignature, registerSignatureType, Signature, toWireOptions, type SignatureLike, type SignatureOptions, type WireOptions } from './signature.js';
import type { AnyStep, ResultOf } from './types.js';

/** A task over each item: `celery.map` calls it with one argument per item. */
export class MapSignature<R = unknown> extends Signature<R[], never, AsyncResult<R[]>> {
  constructor(taskName: 'celery.map' | 'celery.starmap', subtaskType: 'xmap' | 'xstarmap', task: SignatureLike, it: readonly unknown[], options: WireOptions = {}, app?: Celery) {
    const sig = maybeSignature(task, app);
    super(taskName, [], { task: sig, it: [...it] }, options, true, subtaskType, app ?? sig.app);
  }

  override async applyWith(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: WireOptions = {}): Promise<AsyncResult<R[]>> {
    // Routed like the mapped task (Celery's route_name), so a queue set on it applies.
    const inner = this.kwargs.task as Signature;
    const routed = { ...options };
    if (!routed.queue && !this.options.queue && typeof inner.options.queue === 'string') routed.queue = inner.options.queue;
    return super.applyWith(args, kwargs, routed);
  }
}

/** `chunks`: the list split in parts of `n`, each part one `celery.starmap` message, all in a group. */
export class Chunks<R = unknown> extends Signature<R[][], never, GroupResult<R[][]>> {
  declare readonly __group?: R[][];

  constructor(task: SignatureLike, it: readonly unknown[][], n: number, options: WireOptions = {}, app?: Celery) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`chunks: n must be a positive integer, got ${n}`);
    const sig = maybeSignature(task, app);
    super('celery.chunks', [], { task: sig, it: [...it], n }, options, true, 'chunks', app ?? sig.app);
  }

  /** The group of starmaps this stands for. */
  group(): Group {
    const { task, it, n } = this.kwargs as { task: Signature; it: unknown[][]; n: number };
    const parts: Signature[] = [];
    for (let i = 0; i < it.length; i += n) parts.push(new MapSignature('celery.starmap', 'xstarmap', task, it.slice(i, i + n), {}, this.app));
    return new Group(parts, {}, this.app);
  }

  override applyAsync(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: SignatureOptions = {}): Promise<GroupResult<R[][]>> {
    return this.applyWith(args, kwargs, toWireOptions(options));
  }

  override async applyWith(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}, options: WireOptions = {}): Promise<GroupResult<R[][]>> {
    return (await this.group().applyWith(args, kwargs, { ...this.options, ...options })) as GroupResult<R[][]>;
  }
}

/** `map(add.s(), [1, 2, 3])`: one message; the worker calls the task once per item. */
export function xmap<S extends AnyStep>(task: S, it: readonly unknown[]): MapSignature<ResultOf<S>> {
  return new MapSignature('celery.map', 'xmap', task as unknown as SignatureLike, it);
}

/** `starmap(add.s(), [[1, 2], [3, 4]])`: each item is an argument list. */
export function starmap<S extends AnyStep>(task: S, it: readonly unknown[][]): MapSignature<ResultOf<S>> {
  return new MapSignature('celery.starmap', 'xstarmap', task as unknown as SignatureLike, it);
}

/** `chunks(add.s(), [[1, 2], [3, 4], …], 10)`: a group of starmaps of `n` items each. */
export function chunks<S extends AnyStep>(task: S, it: readonly unknown[][], n: number): Chunks<ResultOf<S>> {
  return new Chunks(task as unknown as SignatureLike, it, n);
}

const kwargsOf = (d: { kwargs: Record<string, unknown> }) => d.kwargs as { task: SignatureLike; it: unknown[]; n?: number };
registerSignatureType('xmap', (d, app) => new MapSignature('celery.map', 'xmap', kwargsOf(d).task, kwargsOf(d).it ?? [], { ...d.options }, app));
registerSignatureType('xstarmap', (d, app) => new MapSignature('celery.starmap', 'xstarmap', kwargsOf(d).task, kwargsOf(d).it ?? [], { ...d.options }, app));
registerSignatureType('chunks', (d, app) => new Chunks(kwargsOf(d).task, (kwargsOf(d).it ?? []) as unknown[][], kwargsOf(d).n ?? 1, { ...d.options }, app));
