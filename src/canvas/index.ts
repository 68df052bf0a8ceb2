/**
 * The canvas: signatures and the workflow primitives built on them. Importing this module registers
 * every canvas type, so `signature(dict)` rebuilds chains, groups, chords and maps.
 */
export { Signature, signature, maybeSignature, toSignatureDict, toWireOptions, type SignatureOptions, type SignatureLike, type FreezeOptions, type HandleOf, type WireOptions } from './signature.js';
export { Chain, chain, pipeSignatures } from './chain.js';
export { Group, group, chordSizeOf } from './group.js';
export { Chord, chord } from './chord.js';
export { MapSignature, Chunks, xmap, starmap, chunks } from './map.js';
export { GroupResult, resultFromTuple, type MemberResult } from './group-result.js';
export { ChordError } from './join.js';
export { registerCanvasTasks, CHORD_UNLOCK } from './builtins.js';
export type { Step, AnyStep, ResultOf, CheckedChain, StepMismatch } from './types.js';
