/**
 * A task signature: a task name with arguments and options, serializable as Celery's dict
 * (`{task, args, kwargs, options, subtask_type, immutable}`) so it can travel in `link`,
 * `link_error` and workflow fields. The canvas primitives build on this.
 */
import type { SignatureDict } from '../protocol/types.js';

export class Signature<R = unknown> {
  /** Phantom field that carries the result type for typed composition. */
  declare readonly __result?: R;

  constructor(
    readonly task: string,
    readonly args: readonly unknown[] = [],
    readonly kwargs: Readonly<Record<string, unknown>> = {},
    readonly options: Readonly<Record<string, unknown>> = {},
    readonly immutable = false,
    readonly subtaskType: string | null = null,
  ) {}

  /** A copy with options merged in. */
  set(options: Record<string, unknown>): Signature<R> {
    return new Signature<R>(this.task, this.args, this.kwargs, { ...this.options, ...options }, this.immutable, this.subtaskType);
  }

  /** A copy with more arguments appended (ignored for immutable signatures, as in Celery). */
  clone(args: readonly unknown[] = [], kwargs: Record<string, unknown> = {}): Signature<R> {
    if (this.immutable) return new Signature<R>(this.task, this.args, this.kwargs, { ...this.options }, true, this.subtaskType);
    return new Signature<R>(this.task, [...this.args, ...args], { ...this.kwargs, ...kwargs }, { ...this.options }, false, this.subtaskType);
  }

  toDict(): SignatureDict {
    return {
      task: this.task,
      args: [...this.args],
      kwargs: { ...this.kwargs },
      options: { ...this.options },
      subtask_type: this.subtaskType,
      immutable: this.immutable,
    };
  }

  toJSON(): SignatureDict {
    return this.toDict();
  }

  static fromDict(dict: SignatureDict): Signature {
    return new Signature(dict.task, dict.args ?? [], dict.kwargs ?? {}, dict.options ?? {}, Boolean(dict.immutable), dict.subtask_type ?? null);
  }
}

export type SignatureLike = Signature | SignatureDict;

export function toSignatureDict(sig: SignatureLike): SignatureDict {
  return sig instanceof Signature ? sig.toDict() : sig;
}
