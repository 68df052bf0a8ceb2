/**
 * The worker core: consume, decode, check, schedule, run, settle. Everything else (results,
 * callbacks, revocation, expiry, leases) is middleware. Shutdown follows Celery's stages: `close()`
 * is a warm shutdown, `terminate()` a cold one.
 */
import { availableParallelism, hostname as osHostname } from 'node:os';
import type { Celery } from '../app/celery.js';
import type { ResultBackend } from '../backends/types.js';
import type { Broker, Delivery, Subscription } from '../brokers/types.js';
import { MalformedMessageError, NotRegisteredError } from '../errors.js';
import { decodeTaskMessage } from '../protocol/message.js';
import type { DecodedTaskMessage } from '../protocol/types.js';
import type { Logger } from '../utils/logger.js';
import { EtaScheduler } from './eta.js';
import type { Outcome, Skip, WorkerMiddleware, WorkerRuntime } from './middleware.js';
import { CallbackMiddleware } from './middlewares/callbacks.js';
import { ExpiryMiddleware } from './middlewares/expiry.js';
import { LeaseMiddleware } from './middlewares/leases.js';
import { ResultMiddleware, resultRequest } from './middlewares/results.js';
import { RevocationMiddleware } from './middlewares/revocation.js';
import { hasWorkflow, onTaskFailure } from '../canvas/dispatch.js';
import { HeldRequests } from './held-requests.js';
import { MiddlewareHooks } from './hooks.js';
import { AsyncPool } from './pool.js';
import { createExecutionPool, timeLimitsOf, toJob } from './pools/create.js';
import type { ExecutionPool, PoolKind } from './pools/types.js';
import { WorkerLostError } from './pools/time-limit-errors.js';
import { RateLimitGate } from './rate-limits.js';
import { SharedWrites } from './shared-writes.js';
import { handleTaskControl, isTaskControl } from './task-control.js';
import { metaSourceOf, TaskRequest } from './request.js';
import { buildResultMeta, notRegisteredInfo } from './result-meta.js';
import { traceRequest } from './trace.js';

export interface WorkerOptions {
  /** Queues to consume; default the app's `taskDefaultQueue`. */
  queues?: string[];
  concurrency?: number;
  /** Reserved messages per slot; 0 means unlimited. */
  prefetchMultiplier?: number;
  /** Node name; default `celery@<hostname>`. */
  hostname?: string;
  /** Extra middlewares, run after the built-in ones. */
  middleware?: WorkerMiddleware[];
  /** Where tasks run (`-P`); default the `workerPool` setting (`async`). */
  pool?: PoolKind;
  /**
   * Path of the module that exports the app. The `threads` and `processes` pools load it in each
   * thread or process; the CLI passes its `-A` module.
   */
  appModule?: string;
}

/** `running-cold` is a warm shutdown turning cold (soft timeout); `cold` is a cold shutdown under way. */
type WorkerState = 'new' | 'starting' | 'running' | 'stopping' | 'running-cold' | 'cold' | 'stopped';

export class Worker implements WorkerRuntime {
  readonly hostname: string;
  readonly queues: string[];
  readonly concurrency: number;
  readonly prefetchMultiplier: number;
  readonly middlewares: WorkerMiddleware[];
  private state: WorkerState = 'new';
  private brokerRef: Broker | null = null;
  private backendRef: ResultBackend | null = null;
  private subscription: Subscription | null = null;
  readonly poolKind: PoolKind;
  private readonly appModule: string | undefined;
  private readonly pool: AsyncPool<TaskRequest>;
  private executionPool: ExecutionPool | null = null;
  private readonly rateLimits = new RateLimitGate(this, (request) => this.pool.submit(request));
  private readonly eta = new EtaScheduler((request) => this.rateLimits.admit(request));
  /** Received and not yet settled or finished; every change re-checks the no-prefetch intake. */
  private readonly held = new HeldRequests(() => this.updateIntake());
  private readonly counters = { received: 0, succeeded: 0, failed: 0, skipped: 0, rejected: 0 };
  private readonly hooks: MiddlewareHooks;
  /**
   * Early acks are sent without waiting; brokers that batch acks give a whole batch one promise, so
   * a failure (only a possible redelivery) is logged once per batch, naming its tasks.
   */
  private readonly earlyAcks = new SharedWrites((err, batch) =>
    this.log.warn({ count: batch.count, ids: batch.ids, err: (err as Error).message }, 'early ack failed'),
  );

  constructor(
    readonly app: Celery,
    options: WorkerOptions = {},
  ) {
    const conf = app.conf;
    this.hostname = options.hostname ?? conf.workerHostname ?? `celery@${osHostname()}`;
    this.queues = options.queues?.length ? options.queues : [conf.taskDefaultQueue];
    this.concurrency = options.concurrency ?? conf.workerConcurrency ?? availableParallelism();
    this.prefetchMultiplier = options.prefetchMultiplier ?? conf.workerPrefetchMultiplier;
    this.poolKind = options.pool ?? conf.workerPool;
    this.appModule = options.appModule;
    this.pool = new AsyncPool<TaskRequest>(this.concurrency, (request) => this.execute(request));
    this.middlewares = [
      new RevocationMiddleware(),
      new ExpiryMiddleware(),
      new LeaseMiddleware(),
      new ResultMiddleware(),
      new CallbackMiddleware(),
      ...(options.middleware ?? []),
    ];
    this.hooks = new MiddlewareHooks(this.middlewares, () => this.log);
  }

  get broker(): Broker {
    if (!this.brokerRef) throw new Error('worker is not started');
    return this.brokerRef;
  }

  get backend(): ResultBackend | null {
    return this.backendRef;
  }

  get log(): Logger {
    return this.app.log;
  }

  get stats() {
    return {
      ...this.counters,
      active: this.pool.active.length,
      reserved: this.pool.reserved.length + this.rateLimits.waitingCount,
      scheduled: this.eta.scheduled.length,
    };
  }

  /** Change the number of tasks run at once, at runtime (Celery's pool_grow / pool_shrink). */
  async resize(concurrency: number): Promise<void> {
    await this.executionPool?.resize(concurrency);
    this.pool.resize(concurrency);
    this.subscription?.setPrefetch(this.prefetchFor(concurrency));
    (this as { concurrency: number }).concurrency = concurrency;
    this.updateIntake();
  }

  /** Change a task's per-worker rate limit at runtime (`'10/s'`, `'200/m'`, a number, or null for none). */
  setRateLimit(taskName: string, rate: string | number | null): void {
    this.rateLimits.setRateLimit(taskName, rate);
  }

  /** Change the cluster-wide rate limit this worker applies to a task. */
  setGlobalRateLimit(taskName: string, rate: string | number | null): void {
    this.rateLimits.setGlobalRateLimit(taskName, rate);
  }

  activeRequests(): readonly TaskRequest[] {
    return this.pool.active;
  }

  heldRequests(): readonly TaskRequest[] {
    return [...this.held];
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`worker cannot start from state ${this.state}`);
    this.state = 'starting';
    this.app.workersRunning++;
    let prefetch: number;
    try {
      this.brokerRef = await this.app.connectBroker();
      this.backendRef = await this.app.connectBackend();
      for (const queue of this.queues) await this.app.ensureQueue(queue);
      this.hooks.refresh();
      this.executionPool = createExecutionPool(this.app, this.poolKind, this.concurrency, this.appModule);
      await this.executionPool.start();
      for (const mw of this.middlewares) await mw.start?.(this);
      prefetch = this.prefetchFor(this.concurrency);
      this.subscription = await this.broker.consume(this.queues, (delivery) => this.receive(delivery), { prefetch });
    } catch (err) {
      this.app.workersRunning--;
      throw err;
    }
    this.state = 'running';
    this.log.info(
      { hostname: this.hostname, queues: this.queues, pool: this.poolKind, concurrency: this.concurrency, prefetch, broker: this.broker.url, tasks: this.app.taskNames },
      'worker ready',
    );
  }

  /**
   * Warm shutdown: stop consuming, return reserved messages, let running tasks finish. With
   * `workerSoftShutdownTimeout` set (soft shutdown), tasks still running after that many seconds
   * are stopped as in a cold shutdown.
   */
  async close(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    await this.subscription?.cancel();
    const unstarted = [...this.pool.takeWaiting(), ...this.rateLimits.takeWaiting(), ...this.eta.cancelAll()];
    await Promise.allSettled(unstarted.map((r) => this.release(r, true, 'warm shutdown')));
    if (unstarted.length) this.log.info({ count: unstarted.length }, 'returned reserved messages to the broker');
    const softSeconds = this.app.conf.workerSoftShutdownTimeout;
    if (softSeconds > 0 && !(await this.idleWithin(softSeconds * 1000))) {
      this.log.warn({ seconds: softSeconds, active: this.pool.active.length }, 'soft shutdown timeout reached: stopping running tasks (cold shutdown)');
      this.state = 'running-cold';
      return this.terminate();
    }
    await this.pool.whenIdle();
    await this.executionPool?.close();
    await this.rateLimits.close();
    await this.stopMiddlewares();
    this.state = 'stopped';
    this.app.workersRunning--;
    this.log.info({ hostname: this.hostname, ...this.counters }, 'worker stopped');
  }

  private async idleWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const idle = this.pool.whenIdle().then(() => true);
    const result = await Promise.race([idle, timeout]);
    clearTimeout(timer);
    return result;
  }

  /**
   * Cold shutdown: stop running tasks (threads and processes are killed), return every message not
   * started, and settle the running ones as Celery does: an acks-late task with
   * `rejectOnWorkerLost` goes back to the queue; any other is stored FAILURE (WorkerLostError), so
   * nothing is silently dropped. Does not wait for task code to finish.
   */
  async terminate(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'cold') return;
    this.state = 'cold';
    await this.subscription?.cancel();
    const running = [...this.pool.active];
    for (const request of running) request.abort.abort(new WorkerLostError('worker cold shutdown'));
    const unstarted = [...this.pool.takeWaiting(), ...this.rateLimits.takeWaiting(), ...this.eta.cancelAll()];
    await Promise.allSettled(unstarted.map((r) => this.release(r, true, 'cold shutdown')));
    await Promise.allSettled(running.map((r) => this.settleLost(r, 'worker cold shutdown')));
    await Promise.allSettled([...this.held].map((r) => this.release(r, true, 'cold shutdown')));
    await this.executionPool?.terminate();
    await this.rateLimits.close();
    await this.stopMiddlewares();
    this.state = 'stopped';
    this.app.workersRunning--;
    this.log.warn({ hostname: this.hostname, returned: unstarted.length, stopped: running.length }, 'worker terminated (cold shutdown)');
  }

  /** A running task whose worker went away: requeue (acks late + reject on worker lost) or store FAILURE. */
  private async settleLost(request: TaskRequest, why: string): Promise<void> {
    const options = request.task.options;
    const acksLate = options.acksLate ?? this.app.conf.taskAcksLate;
    if (acksLate && (options.rejectOnWorkerLost ?? this.app.conf.taskRejectOnWorkerLost)) {
      await this.release(request, true, why);
      return;
    }
    const error = new WorkerLostError(`Worker exited prematurely: ${why}. Job: ${request.id}.`);
    this.counters.failed++;
    await this.hooks.runEach('afterExecute', (mw) => mw.afterExecute!(request, { status: 'FAILURE', error, runtimeMs: 0 }));
    await this.release(request, false, why);
  }

  /** Celery's prefetch: concurrency × multiplier (0 = unlimited); just the concurrency without prefetch. */
  private prefetchFor(concurrency: number): number {
    if (this.app.conf.workerDisablePrefetch) return concurrency;
    return this.prefetchMultiplier === 0 ? 0 : concurrency * this.prefetchMultiplier;
  }

  /** No-prefetch mode: take messages only while a slot is free (ETA-held messages take none). */
  private updateIntake(): void {
    if (!this.app.conf.workerDisablePrefetch || !this.subscription?.setPaused) return;
    this.subscription.setPaused(this.held.size - this.eta.scheduled.length >= this.concurrency);
  }

  private async stopMiddlewares(): Promise<void> {
    for (const mw of [...this.middlewares].reverse()) {
      try {
        await mw.stop?.();
      } catch (err) {
        this.log.error({ middleware: mw.name, err: (err as Error).message }, 'middleware stop failed');
      }
    }
  }

  /**
   * Entry point for every delivery. Never throws: a bad message is rejected and logged. The usual
   * delivery (decodable, registered, due, not skipped) goes to the pool synchronously, without a
   * promise of its own.
   */
  private receive(delivery: Delivery): void {
    this.counters.received++;
    let decoded: DecodedTaskMessage;
    try {
      decoded = decodeTaskMessage(delivery.message, this.app.conf.acceptContent);
    } catch (err) {
      void this.rejectMalformed(delivery, err);
      return;
    }
    const task = this.app.getTask(decoded.headers.task);
    if (!task) {
      void this.rejectUnregistered(decoded, delivery).catch((err: unknown) =>
        this.log.error({ id: decoded.headers.id, err: (err as Error).message }, 'could not store the unregistered task failure'),
      );
      return;
    }
    let request: TaskRequest;
    try {
      request = new TaskRequest(decoded, delivery, task, this.hostname);
    } catch (err) {
      void this.rejectMalformed(delivery, err);
      return;
    }
    this.held.add(request);
    try {
      const skip = this.skipOf(request);
      if (skip) {
        void this.skip(request, skip);
        return;
      }
      if (request.eta && request.eta.getTime() > Date.now()) {
        void this.scheduleEta(request);
        return;
      }
      void this.admitUnlessStopping(request);
    } catch (err) {
      this.log.error({ id: request.id, task: request.name, err: (err as Error).message }, 'could not schedule request');
      void this.release(request, true, 'scheduling error');
    }
  }

  /** A due request goes to the rate limits (then the pool), or back to the broker once stopping. */
  private admitUnlessStopping(request: TaskRequest): Promise<void> | void {
    if (this.state !== 'running' && this.state !== 'starting') return this.release(request, true, 'worker stopping');
    this.rateLimits.admit(request);
  }

  private async rejectMalformed(delivery: Delivery, err: unknown): Promise<void> {
    const reason = err instanceof MalformedMessageError ? err.message : `undecodable message: ${(err as Error).message}`;
    this.counters.rejected++;
    this.log.error({ queue: delivery.queue, deliveryTag: delivery.deliveryTag, reason }, 'rejected malformed message');
    await delivery.reject(false, reason).catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'reject failed'));
  }

  private async scheduleEta(request: TaskRequest): Promise<void> {
    try {
      if (await this.eta.schedule(request)) {
        if (request.isSettled) this.held.delete(request);
        return;
      }
      await this.admitUnlessStopping(request);
    } catch (err) {
      this.log.error({ id: request.id, task: request.name, err: (err as Error).message }, 'could not schedule request');
      await this.release(request, true, 'scheduling error');
    }
  }

  private async rejectUnregistered(decoded: DecodedTaskMessage, delivery: Delivery): Promise<void> {
    const error = new NotRegisteredError(decoded.headers.task);
    this.counters.rejected++;
    this.log.error({ id: decoded.headers.id, task: decoded.headers.task, queue: delivery.queue }, `Received unregistered task of type '${decoded.headers.task}'`);
    try {
      const meta = buildResultMeta(metaSourceOf(decoded, delivery, this.hostname), 'FAILURE', notRegisteredInfo(decoded.headers.task), error.stack ?? null, {
        extended: this.app.conf.resultExtended,
      });
      await this.backend?.storeResult(meta, resultRequest(decoded.properties, decoded.headers.id));
      // Part of a chord or chain: fail the rest of the workflow too, so nothing waits forever.
      const h = decoded.headers;
      if (hasWorkflow(decoded.embed)) {
        const finished = { id: h.id, rootId: h.root_id ?? null, groupId: h.group ?? null, groupIndex: h.group_index ?? null, embed: decoded.embed, request: { id: h.id, rootId: h.root_id ?? null } };
        await onTaskFailure(this.app, this.backend, finished, error);
      }
    } finally {
      await delivery.reject(false, error.message).catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'reject failed'));
    }
  }

  /** The first middleware's reason not to run the request, or null. */
  private skipOf(request: TaskRequest): Skip | null {
    for (const mw of this.hooks.of('shouldSkip')) {
      const skip = mw.shouldSkip!(request);
      if (skip) return skip;
    }
    return null;
  }

  /** A skipped request is acked and stored REVOKED. */
  private async skip(request: TaskRequest, skip: Skip): Promise<void> {
    this.counters.skipped++;
    this.log.info({ id: request.id, task: request.name, reason: skip.reason }, 'task skipped');
    await this.hooks.runAll('afterSkip', (mw) => mw.afterSkip?.(request, skip));
    await this.release(request, false);
  }

  private execute(request: TaskRequest): Promise<void> | void {
    if (this.state === 'stopped') return;
    const skip = this.skipOf(request);
    if (skip) return this.skip(request, skip);
    const acksLate = request.task.options.acksLate ?? this.app.conf.taskAcksLate;
    // Early ack is sent before the task runs, as Celery's, but not waited for: the round trip would
    // add to every task's latency. A failed ack only means a possible redelivery; it is logged.
    if (!acksLate) this.earlyAcks.add(request.ack(), request.id);
    request.startedAt = Date.now();
    // Hooks and the task itself are awaited only when they return a promise.
    const before = this.hooks.runEach('beforeExecute', (mw) => mw.beforeExecute!(request));
    if (before) return before.then(() => this.run(request, acksLate));
    return this.run(request, acksLate);
  }

  private run(request: TaskRequest, acksLate: boolean): Promise<void> | void {
    const limits = timeLimitsOf(request, this.app.conf);
    // The common case (async pool, no time limit) runs the task right here, without a job or timers.
    const outcome =
      this.poolKind === 'async' && !limits.soft && !limits.hard
        ? traceRequest(request)
        : this.executionPool!.run(toJob(request, limits), { signal: request.abort.signal });
    if (outcome instanceof Promise) return outcome.then((o) => this.finish(request, o, acksLate));
    return this.finish(request, outcome, acksLate);
  }

  private finish(request: TaskRequest, outcome: Outcome, acksLate: boolean): Promise<void> | void {
    // A cold shutdown settles the tasks it stopped itself.
    if (this.state === 'cold' || this.state === 'stopped') return;
    const revoked = request.abortReason as { revoked?: boolean } | undefined;
    if (outcome.status === 'FAILURE' && revoked?.revoked) return this.skip(request, { reason: 'terminated', expired: false });
    if (outcome.status === 'FAILURE' && isTaskControl(outcome)) return this.control(request, outcome, acksLate);
    this.logOutcome(request, outcome);
    const after = this.hooks.runEach('afterExecute', (mw) => mw.afterExecute!(request, outcome));
    if (after) return after.then(() => this.settleAfter(request, outcome, acksLate));
    return this.settleAfter(request, outcome, acksLate);
  }

  private settleAfter(request: TaskRequest, outcome: Outcome, acksLate: boolean): Promise<void> | void {
    if (!acksLate) {
      this.held.delete(request);
      return;
    }
    const settled = outcome.status === 'FAILURE' ? this.settleFailure(request) : request.ack();
    return settled.then(() => {
      this.held.delete(request);
    });
  }

  /** An acks-late task failed: the broker may keep it for a later attempt (SQS backoffPolicy), else ack or reject. */
  private async settleFailure(request: TaskRequest): Promise<void> {
    if (await this.keptByBroker(request)) {
      this.log.info({ id: request.id, task: request.name }, 'failed task kept by the broker for a later attempt (backoff policy)');
      return;
    }
    const ackFailure = request.task.options.acksOnFailureOrTimeout ?? this.app.conf.taskAcksOnFailureOrTimeout;
    if (ackFailure) await request.ack();
    else await this.release(request, false, 'task failed');
  }

  /** Retry, Reject or Ignore thrown by the task; exhausted retries continue as a plain failure. */
  private async control(request: TaskRequest, outcome: Outcome & { status: 'FAILURE' }, acksLate: boolean): Promise<void> {
    let result;
    try {
      result = await handleTaskControl(this, request, outcome);
    } catch (err) {
      this.log.error({ id: request.id, task: request.name, err: (err as Error).message }, 'could not retry the task; it fails instead');
      result = { handled: false as const, outcome: { status: 'FAILURE' as const, error: err, runtimeMs: outcome.runtimeMs } };
    }
    if (result.handled) {
      this.held.delete(request);
      return;
    }
    this.logOutcome(request, result.outcome);
    const after = this.hooks.runEach('afterExecute', (mw) => mw.afterExecute!(request, result.outcome));
    if (after) await after;
    await this.settleAfter(request, result.outcome, acksLate);
  }

  private logOutcome(request: TaskRequest, outcome: Outcome): void {
    if (outcome.status === 'SUCCESS') {
      this.counters.succeeded++;
      if (!this.log.isLevelEnabled('info')) return;
      const seconds = Number((outcome.runtimeMs / 1000).toFixed(6));
      this.log.info({ id: request.id, task: request.name, runtime: seconds }, `Task ${request.name}[${request.id}] succeeded in ${seconds}s`);
    } else {
      this.counters.failed++;
      const seconds = Number((outcome.runtimeMs / 1000).toFixed(6));
      const err = outcome.error as Error;
      this.log.error({ id: request.id, task: request.name, runtime: seconds, err: err?.message ?? String(err) }, `Task ${request.name}[${request.id}] raised unexpected: ${err?.name ?? 'Error'}`);
    }
  }

  /** A failed acks-late task: the broker's retry policy (SQS backoffPolicy) may keep its message. */
  private async keptByBroker(request: TaskRequest): Promise<boolean> {
    try {
      return await request.retryAfterFailure();
    } catch (err) {
      this.log.warn({ id: request.id, err: (err as Error).message }, 'broker backoff failed; settling as usual');
      return false;
    }
  }

  /** Settle a request that will not run here: ack (`requeue` false) or give it back (true). */
  private async release(request: TaskRequest, requeue: boolean, reason?: string): Promise<void> {
    this.held.delete(request);
    try {
      if (requeue) await request.reject(true, reason);
      else await request.ack();
    } catch (err) {
      this.log.error({ id: request.id, err: (err as Error).message }, 'could not settle message');
    }
  }
}

