/** celeriac: a distributed task queue for TypeScript that speaks Celery's wire protocol. */
export { Celery } from './app/celery.js';
export type { CeleryConstructorExtras } from './app/celery.js';
export type { Config, ConfigInput } from './app/config.js';
export { SETTINGS } from './app/settings.js';
export { Task } from './app/task.js';
export type { TaskOptions, TaskFunction } from './app/task.js';
export { AsyncResult, errorFromMeta } from './app/result.js';
export type { GetOptions } from './app/result.js';
export type { ApplyOptions } from './app/publish.js';
export type { RouteTarget, RouteFunction, TaskRoutes } from './app/routing.js';
export { currentTask } from './app/context.js';
export type { TaskContext } from './app/context.js';
export {
  Signature, signature, maybeSignature, Chain, chain, Group, group, Chord, chord, MapSignature, Chunks, xmap, starmap, chunks,
  GroupResult, ChordError,
} from './canvas/index.js';
export type { SignatureOptions, SignatureLike, HandleOf, Step, AnyStep, ResultOf, MemberResult } from './canvas/index.js';
export { Worker } from './worker/worker.js';
export type { WorkerOptions } from './worker/worker.js';
export type { WorkerMiddleware, WorkerRuntime, Outcome, Skip } from './worker/middleware.js';
export { createBroker } from './brokers/index.js';
export { createResultBackend } from './backends/index.js';
export { redactUrl } from './utils/url.js';
export * from './errors.js';
export type * from './protocol/types.js';
export type * from './brokers/types.js';
export type * from './backends/types.js';
export { READY_STATES, PROPAGATE_STATES, EXCEPTION_STATES } from './backends/types.js';
export { retry, Retry, Reject, Ignore, MaxRetriesExceededError } from './app/task-control.js';
export type { RetryOptions } from './app/task-control.js';
export { SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError, Terminated } from './worker/pools/time-limit-errors.js';
export type { PoolKind } from './worker/pools/types.js';
