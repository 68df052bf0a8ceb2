/**
 * Worker behaviours as middleware around a small core (Dramatiq's model): the core receives,
 * schedules and runs requests; storing results, callbacks, revocation, expiry and visibility leases
 * are middlewares with hooks at fixed points. Later behaviours (retries, limits) plug in the same way.
 */
import type { Celery } from '../app/celery.js';
import type { ResultBackend } from '../backends/types.js';
import type { Broker } from '../brokers/types.js';
import type { Logger } from '../utils/logger.js';
import type { TaskRequest } from './request.js';

export type Outcome =
  | { status: 'SUCCESS'; value: unknown; runtimeMs: number }
  | { status: 'FAILURE'; error: unknown; runtimeMs: number };

/** Why a request was not run. It is acked and stored as REVOKED with `reason`. */
export interface Skip {
  reason: string;
  expired: boolean;
}

/** What middlewares can see of the running worker. */
export interface WorkerRuntime {
  readonly app: Celery;
  readonly hostname: string;
  readonly broker: Broker;
  readonly backend: ResultBackend | null;
  readonly log: Logger;
  /** Requests running now. */
  activeRequests(): readonly TaskRequest[];
  /** Requests received and not yet settled (reserved, scheduled or running). */
  heldRequests(): readonly TaskRequest[];
}

export interface WorkerMiddleware {
  readonly name: string;
  start?(runtime: WorkerRuntime): void | Promise<void>;
  stop?(): void | Promise<void>;
  /** Asked on receipt and again right before running; return a Skip to not run the request. */
  shouldSkip?(request: TaskRequest): Skip | null;
  beforeExecute?(request: TaskRequest): void | Promise<void>;
  afterExecute?(request: TaskRequest, outcome: Outcome): void | Promise<void>;
  afterSkip?(request: TaskRequest, skip: Skip): void | Promise<void>;
}
