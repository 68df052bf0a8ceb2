/**
 * The `async` pool: tasks run in the worker's own event loop (the default, and the fastest for I/O).
 * JavaScript cannot stop a running function from outside, so here the hard time limit fails the
 * task and frees its slot while the code itself runs on; its later result is discarded. The soft
 * limit and revocation abort the task's signal, which well-behaved tasks pass to their I/O.
 */
import type { Celery } from '../../app/celery.js';
import { runWithTaskContext, type TaskContext } from '../../app/context.js';
import { NotRegisteredError } from '../../errors.js';
import { storeTaskState } from '../task-state.js';
import type { Logger } from '../../utils/logger.js';
import type { Outcome } from '../middleware.js';
import { SoftTimeLimitExceeded, TimeLimitExceeded } from './time-limit-errors.js';
import type { ExecutionPool, RunControl, TaskJob } from './types.js';

export class InProcessPool implements ExecutionPool {
  readonly kind = 'async' as const;

  constructor(
    private readonly app: Celery,
    private readonly log: Logger,
    public size: number,
  ) {}

  async start(): Promise<void> {}

  run(job: TaskJob, control: RunControl): Promise<Outcome> {
    const started = performance.now();
    const task = this.app.getTask(job.name);
    if (!task) return Promise.resolve({ status: 'FAILURE', error: new NotRegisteredError(job.name), runtimeMs: 0 });
    if (job.softTimeLimitMs === null && job.hardTimeLimitMs === null) {
      // The common case stays lean: no timers, no extra controller.
      return settle(runWithTaskContext(this.context(job, control.signal), () => task.runWith(job.args, job.kwargs)), started);
    }
    const controller = new AbortController();
    const forward = () => controller.abort(control.signal.reason);
    // (Aborted already, say revoked before it started: the task sees it at once, as without limits.)
    if (control.signal.aborted) forward();
    else control.signal.addEventListener('abort', forward, { once: true });
    const timers: NodeJS.Timeout[] = [];
    const running = settle(runWithTaskContext(this.context(job, controller.signal), () => task.runWith(job.args, job.kwargs)), started);
    const limits: Promise<Outcome>[] = [running];
    if (job.softTimeLimitMs !== null) {
      const seconds = job.softTimeLimitMs / 1000;
      timers.push(setTimeout(() => controller.abort(new SoftTimeLimitExceeded(seconds)), job.softTimeLimitMs));
    }
    const hardMs = job.hardTimeLimitMs;
    if (hardMs !== null) {
      const seconds = hardMs / 1000;
      limits.push(
        new Promise((resolve) =>
          timers.push(
            setTimeout(() => {
              this.log.warn(
                { id: job.id, task: job.name },
                `Hard time limit (${seconds}s) exceeded for ${job.name}[${job.id}]: marked failed, but the async pool cannot stop its code (use -P threads or -P processes)`,
              );
              const error = new TimeLimitExceeded(seconds);
              controller.abort(error);
              resolve({ status: 'FAILURE', error, runtimeMs: performance.now() - started });
            }, hardMs),
          ),
        ),
      );
    }
    return Promise.race(limits).finally(() => {
      for (const timer of timers) clearTimeout(timer);
      control.signal.removeEventListener('abort', forward);
    });
  }

  private context(job: TaskJob, signal: AbortSignal): TaskContext {
    const app = this.app;
    return { ...job.context, signal, updateState: (state, meta) => storeTaskState(app, job.context, state, meta) };
  }

  async resize(size: number): Promise<void> {
    this.size = size;
  }

  async close(): Promise<void> {}

  async terminate(): Promise<void> {}
}

async function settle(result: Promise<unknown>, started: number): Promise<Outcome> {
  try {
    const value = await result;
    return { status: 'SUCCESS', value: value === undefined ? null : value, runtimeMs: performance.now() - started };
  } catch (error) {
    return { status: 'FAILURE', error, runtimeMs: performance.now() - started };
  }
}
