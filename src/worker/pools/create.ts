/** Building the execution pool a worker asked for, and the jobs it runs. */
import type { Celery } from '../../app/celery.js';
import type { Config } from '../../app/config.js';
import { ConfigurationError } from '../../errors.js';
import type { TaskRequest } from '../request.js';
import { InProcessPool } from './in-process.js';
import { RunnerPool } from './runner-pool.js';
import { spawnProcessRunner, spawnThreadRunner } from './runners.js';
import type { ExecutionPool, JobContext, PoolKind, TaskJob } from './types.js';

export function createExecutionPool(app: Celery, kind: PoolKind, size: number, appModule: string | undefined): ExecutionPool {
  if (kind === 'async') return new InProcessPool(app, app.log, size);
  if (!appModule) {
    throw new ConfigurationError(
      'worker_pool',
      `the ${kind} pool loads the app module in each ${kind === 'threads' ? 'thread' : 'process'}: pass appModule (the CLI passes its -A module)`,
    );
  }
  return new RunnerPool({
    kind,
    size,
    appModule,
    conf: cloneableConfig(app.conf),
    spawn: kind === 'threads' ? spawnThreadRunner : spawnProcessRunner,
    log: app.log,
    maxTasksPerChild: app.conf.workerMaxTasksPerChild,
    maxMemoryPerChild: app.conf.workerMaxMemoryPerChild,
  });
}

/** The settings a pool worker applies after loading the module: everything that can be cloned. */
function cloneableConfig(conf: Readonly<Config>): Partial<Config> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(conf)) {
    try {
      out[key] = structuredClone(value);
    } catch {
      // Functions (a route function, say) stay as the module itself defines them.
    }
  }
  return out as Partial<Config>;
}

export interface TimeLimits {
  /** Milliseconds, or null for none. */
  soft: number | null;
  hard: number | null;
}

/** A request without any time limit (shared: most requests have none). */
const NO_LIMITS: TimeLimits = Object.freeze({ soft: null, hard: null });

/** Milliseconds of the first positive candidate, or null. Written out: this runs for every task. */
function firstMs(a: number | null | undefined, b: number | null | undefined, c: number | null | undefined): number | null {
  if (typeof a === 'number' && a > 0) return a * 1000;
  if (typeof b === 'number' && b > 0) return b * 1000;
  if (typeof c === 'number' && c > 0) return c * 1000;
  return null;
}

/** The message's `timelimit` header (a Python client's `time_limit=`), else the task's, else the settings. */
export function timeLimitsOf(request: TaskRequest, conf: Readonly<Config>): TimeLimits {
  const limits = request.headers.timelimit;
  const options = request.task.options;
  const hard = firstMs(limits[0], options.timeLimit, conf.taskTimeLimit);
  const soft = firstMs(limits[1], options.softTimeLimit, conf.taskSoftTimeLimit);
  return hard === null && soft === null ? NO_LIMITS : { hard, soft };
}

export function toJob(request: TaskRequest, limits: TimeLimits): TaskJob {
  const c = request.context();
  const context: JobContext = {
    id: c.id,
    name: c.name,
    args: c.args,
    kwargs: c.kwargs,
    retries: c.retries,
    rootId: c.rootId,
    parentId: c.parentId,
    groupId: c.groupId,
    groupIndex: c.groupIndex,
    eta: c.eta,
    expires: c.expires,
    hostname: c.hostname,
    deliveryInfo: c.deliveryInfo,
    replyTo: c.replyTo,
    correlationId: c.correlationId,
    origin: c.origin,
    timeLimit: c.timeLimit,
    headers: c.headers,
  };
  return { id: request.id, name: request.name, args: request.args, kwargs: request.kwargs, context, softTimeLimitMs: limits.soft, hardTimeLimitMs: limits.hard };
}
