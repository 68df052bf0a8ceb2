/**
 * Type-level pieces of the canvas. A signature carries two phantom types: the result it produces
 * (`__result`) and the value it accepts as its prepended first argument (`__accepts`). A chain
 * type-checks when every step accepts the previous step's result, so a workflow whose steps do
 * not fit together fails to compile.
 */

/** Anything in a canvas: `R` is its result, `I` what it accepts from a parent (the prepended argument). */
export interface Step<R = unknown, I = never> {
  readonly __result?: R;
  /** A function type on purpose: parameters are checked contravariantly, so `I` must accept the input. */
  readonly __accepts?: (value: I) => void;
}

/** The widest step: every signature is assignable to it. */
export type AnyStep = Step<unknown, never>;

export type ResultOf<S> = S extends { readonly __result?: infer R } ? R : unknown;

/** Marks the step that does not accept its parent's result; the compiler error names this property. */
export interface StepMismatch<Prev> {
  readonly 'this step does not accept the previous step result': Prev;
}

/** `S` unchanged when every step accepts the previous result; the offending step replaced by `StepMismatch`. */
export type CheckedChain<S extends readonly unknown[], Prev = never, First extends boolean = true> = S extends readonly [infer H, ...infer T]
  ? [First extends true ? H : H extends { readonly __accepts?: (value: Prev) => void } ? H : StepMismatch<Prev>, ...CheckedChain<T, ResultOf<H>, false>]
  : [];

export type LastOf<S extends readonly unknown[]> = S extends readonly [...unknown[], infer L] ? L : unknown;

/** What a chain accepts: what its first step accepts. */
export type InputOf<S> = S extends { readonly __accepts?: (value: infer I) => void } ? I : never;

/** Results of a tuple of steps, position for position (a group's result). */
export type ResultsOf<S extends readonly unknown[]> = { -readonly [K in keyof S]: ResultOf<S[K]> };

/** Task arguments after the first (what `task.s(...)` takes when the parent's result comes first). */
export type DropFirst<A extends unknown[]> = A extends [unknown, ...infer T] ? T : A extends [unknown?, ...infer T] ? T : [];

export type FirstOf<A extends unknown[]> = A extends [infer F, ...unknown[]] ? F : A extends [(infer F)?, ...unknown[]] ? F : unknown;

/** True for untyped argument lists (`any[]`, `unknown[]`): nothing can be checked for them. */
export type IsLoose<A extends unknown[]> = unknown[] extends A ? true : false;

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** What a group (or chord header) accepts: what every member accepts. */
export type InputsOf<S extends readonly unknown[]> = UnionToIntersection<InputOf<S[number]>>;
