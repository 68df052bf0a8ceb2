/**
 * The `threads` and `processes` pools: a fixed set of pool workers, each running one task at a
 * time. A task that passes its hard time limit, or is revoked with terminate, has its worker killed
 * and replaced, so the limit really stops the code. Workers are recycled after `maxTasksPerChild`
 * tasks or once they report more than `maxMemoryPerChild` KiB, after the task that went over.
 */
import type { Config } from '../../app/config.js';
import type { Logger } from '../../utils/logger.js';
import type { Outcome } from '../middleware.js';
import type { ChildMessage, ChildOutcome } from './messages.js';
import type { Runner, RunnerFactory } from './runners.js';
import { Terminated, TimeLimitExceeded, WorkerLostError } from './time-limit-errors.js';
import { deserializeError, type ExecutionPool, type PoolKind, type RunControl, type TaskJob } from './types.js';

export interface RunnerPoolOptions {
  kind: Exclude<PoolKind, 'async'>;
  size: number;
  /** Path of the module exporting the app; each pool worker loads it. */
  appModule: string;
  /** The parent's configuration, applied in each pool worker after loading the module. */
  conf: Partial<Config>;
  spawn: RunnerFactory;
  log: Logger;
  maxTasksPerChild?: number | null;
  /** KiB: resident set of a child process, V8 heap of a thread. */
  maxMemoryPerChild?: number | null;
  /** How long a new pool worker may take to load the app. */
  startTimeoutMs?: number;
}

interface Slot {
  runner: Runner;
  tasksRun: number;
  busy: boolean;
  retiring: boolean;
  /** It loaded the app: only a worker that once started is replaced when it dies. */
  ready: boolean;
  /** Receives the outcome of the job running here. */
  onDone: ((message: Extract<ChildMessage, { type: 'done' }>) => void) | null;
  /** Settles the job running here when the worker dies under it. */
  onLost: ((reason: string) => void) | null;
}

export class RunnerPool implements ExecutionPool {
  readonly kind: Exclude<PoolKind, 'async'>;
  private target: number;
  private readonly slots = new Set<Slot>();
  private idle: Slot[] = [];
  private waiters: ((slot: Slot) => void)[] = [];
  private closing = false;

  constructor(private readonly options: RunnerPoolOptions) {
    this.kind = options.kind;
    this.target = options.size;
  }

  get size(): number {
    return this.target;
  }

  /** Process ids (or thread ids) of the current pool workers. */
  get workerIds(): number[] {
    return [...this.slots].map((s) => s.runner.id);
  }

  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.target }, () => this.addSlot()));
  }

  async run(job: TaskJob, control: RunControl): Promise<Outcome> {
    const slot = await this.acquire();
    slot.busy = true;
    const started = performance.now();
    const outcome = await new Promise<Outcome>((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      let stoppedBy: Error | null = null;
      const finish = (result: Outcome) => {
        for (const timer of timers) clearTimeout(timer);
        control.signal.removeEventListener('abort', onAbort);
        slot.onLost = null;
        slot.onDone = null;
        resolve(result);
      };
      const stop = (error: Error, signal?: NodeJS.Signals) => {
        stoppedBy = error;
        slot.retiring = true;
        slot.runner.kill(signal);
      };
      const onAbort = () => {
        const reason = control.signal.reason as { signal?: NodeJS.Signals } | undefined;
        const signal = typeof reason?.signal === 'string' ? reason.signal : 'SIGTERM';
        stop(new Terminated(signal), signal);
      };
      slot.onLost = (reason) =>
        finish({ status: 'FAILURE', error: stoppedBy ?? new WorkerLostError(`Worker exited prematurely: ${reason}. Job: ${job.id}.`), runtimeMs: performance.now() - started });
      slot.onDone = (message) => {
        if (message.id !== job.id) return;
        this.noteMemory(slot, message.memoryKiB);
        finish(toOutcome(message.outcome));
      };
      if (control.signal.aborted) return onAbort();
      control.signal.addEventListener('abort', onAbort, { once: true });
      if (job.softTimeLimitMs !== null) {
        const seconds = job.softTimeLimitMs / 1000;
        timers.push(setTimeout(() => slot.runner.post({ type: 'soft-limit', id: job.id, seconds }), job.softTimeLimitMs));
      }
      if (job.hardTimeLimitMs !== null) {
        const seconds = job.hardTimeLimitMs / 1000;
        timers.push(
          setTimeout(() => {
            this.options.log.error({ id: job.id, task: job.name, pid: slot.runner.id }, `Hard time limit (${seconds}s) exceeded for ${job.name}[${job.id}]`);
            stop(new TimeLimitExceeded(seconds), 'SIGKILL');
          }, job.hardTimeLimitMs),
        );
      }
      slot.runner.post({ type: 'run', job });
    });
    slot.busy = false;
    slot.tasksRun++;
    this.release(slot);
    return outcome;
  }

  async resize(size: number): Promise<void> {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`pool size must be a positive integer, got ${size}`);
    const previous = this.target;
    this.target = size;
    if (size > previous) {
      await Promise.all(Array.from({ length: size - this.live() }, () => this.addSlot()));
      return;
    }
    // Shrink: idle workers go now, busy ones after their task.
    let excess = this.live() - size;
    for (const slot of [...this.idle]) {
      if (excess <= 0) break;
      this.retire(slot, 'pool shrunk');
      excess--;
    }
    for (const slot of this.slots) {
      if (excess <= 0) break;
      if (slot.busy && !slot.retiring) {
        slot.retiring = true;
        excess--;
      }
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.whenAllIdle();
    await Promise.all([...this.slots].map((slot) => this.stopSlot(slot)));
  }

  async terminate(): Promise<void> {
    this.closing = true;
    for (const slot of this.slots) {
      slot.retiring = true;
      slot.runner.kill('SIGKILL');
    }
    this.slots.clear();
    this.idle = [];
  }

  private live(): number {
    return [...this.slots].filter((s) => !s.retiring).length;
  }

  private async acquire(): Promise<Slot> {
    const slot = this.idle.shift();
    if (slot) return slot;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(slot: Slot): void {
    if (!this.slots.has(slot)) return this.notifyIdle(); // it died; its replacement is on the way
    const limit = this.options.maxTasksPerChild;
    if (!slot.retiring && limit && slot.tasksRun >= limit) {
      this.retire(slot, `max tasks per child (${limit}) reached`);
    }
    if (slot.retiring) {
      if (this.slots.has(slot)) this.retire(slot, 'retiring');
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter(slot);
    else this.idle.push(slot);
    this.notifyIdle();
  }

  private noteMemory(slot: Slot, memoryKiB: number): void {
    const limit = this.options.maxMemoryPerChild;
    if (limit && memoryKiB > limit && !slot.retiring) {
      this.options.log.warn({ pid: slot.runner.id, memoryKiB, limitKiB: limit }, `pool worker ${slot.runner.id} over max memory per child (${memoryKiB} > ${limit} KiB): replacing it`);
      slot.retiring = true;
    }
  }

  /** Stop a pool worker gracefully and start its replacement if the pool still needs one. */
  private retire(slot: Slot, why: string): void {
    slot.retiring = true;
    this.idle = this.idle.filter((s) => s !== slot);
    this.options.log.info({ pid: slot.runner.id, kind: this.kind, why }, `recycling pool worker ${slot.runner.id}: ${why}`);
    void this.stopSlot(slot);
    this.replenish();
  }

  private async stopSlot(slot: Slot): Promise<void> {
    if (!this.slots.has(slot)) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => slot.runner.kill('SIGKILL'), 5000);
      slot.runner.onExit(() => {
        clearTimeout(timer);
        resolve();
      });
      slot.runner.post({ type: 'exit' });
    });
  }

  private async addSlot(): Promise<void> {
    const runner = this.options.spawn();
    const slot: Slot = { runner, tasksRun: 0, busy: false, retiring: false, ready: false, onLost: null, onDone: null };
    this.slots.add(slot);
    runner.onMessage((message) => {
      if (message.type === 'done') slot.onDone?.(message);
    });
    runner.onExit((reason) => {
      this.slots.delete(slot);
      this.idle = this.idle.filter((s) => s !== slot);
      const lost = slot.onLost;
      if (lost) lost(reason);
      else if (slot.ready && !slot.retiring && !this.closing) this.options.log.error({ pid: runner.id, reason }, `pool worker ${runner.id} died: ${reason}`);
      if (slot.ready) this.replenish();
      this.notifyIdle();
    });
    await this.waitReady(runner);
    slot.ready = true;
    this.options.log.debug({ pid: runner.id, kind: this.kind }, 'pool worker ready');
    this.release(slot);
  }

  /**
   * Start replacements until the pool is back to its size. A replacement that cannot load the app
   * is retried after a pause instead of in a tight loop.
   */
  private replenish(): void {
    if (this.closing || this.live() >= this.target) return;
    this.addSlot().catch((err: unknown) => {
      this.options.log.error({ kind: this.kind, err: (err as Error).message }, 'could not start a pool worker; retrying in 2 s');
      setTimeout(() => this.replenish(), 2000).unref();
    });
  }

  private waitReady(runner: Runner): Promise<void> {
    const timeoutMs = this.options.startTimeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      const fail = (message: string) => {
        clearTimeout(timer);
        runner.kill('SIGKILL');
        reject(new Error(`pool worker could not start: ${message}`));
      };
      const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs);
      let settled = false;
      runner.onExit((reason) => !settled && fail(reason));
      runner.onMessage((message) => {
        if (settled) return;
        settled = message.type === 'ready' || message.type === 'init-failed';
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (message.type === 'init-failed') fail(message.error.message);
      });
      runner.post({ type: 'init', appModule: this.options.appModule, conf: this.options.conf });
    });
  }

  private idleWaiters: (() => void)[] = [];

  private whenAllIdle(): Promise<void> {
    if (![...this.slots].some((s) => s.busy)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    if ([...this.slots].some((s) => s.busy)) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function toOutcome(outcome: ChildOutcome): Outcome {
  return outcome.status === 'SUCCESS' ? outcome : { status: 'FAILURE', error: deserializeError(outcome.error), runtimeMs: outcome.runtimeMs };
}
