/**
 * Revocation: skips revoked tasks and aborts a running one revoked with `terminate`.
 *
 * Revocations are durable (Celery keeps them only in worker memory: its issue #4886). They are
 * recorded in the result backend, which every worker reads: on start, a worker loads those of the
 * last `workerRevokeExpires` seconds, then re-reads new ones every second, so a worker that was
 * offline or reconnecting at the time still honours them. Celery's `revoke` broadcast on the pidbox
 * exchange is acted on at once, and recorded too, so a revoke sent by a Python client becomes
 * durable as soon as one celeriac worker hears it.
 */
import type { RevocationRecord } from '../../backends/types.js';
import type { FanoutSubscription } from '../../brokers/types.js';
import { parseControlMessage, PIDBOX_EXCHANGE } from '../../control/pidbox.js';
import type { Skip, WorkerMiddleware, WorkerRuntime } from '../middleware.js';
import type { TaskRequest } from '../request.js';

const MAX_REVOKED = 50_000;
const SYNC_EVERY_MS = 1000;

export class RevocationMiddleware implements WorkerMiddleware {
  readonly name = 'revocation';
  /** Revoked id → until when (Unix ms) it is honoured. */
  private readonly revoked = new Map<string, number>();
  private subscription: FanoutSubscription | null = null;
  private runtime!: WorkerRuntime;
  private timer: NodeJS.Timeout | null = null;
  private syncedUntil = 0;
  private syncing = false;

  private get keepMs(): number {
    return this.runtime.app.conf.workerRevokeExpires * 1000;
  }

  async start(runtime: WorkerRuntime): Promise<void> {
    this.runtime = runtime;
    this.subscription = await runtime.broker.subscribeFanout(PIDBOX_EXCHANGE, (message) => {
      const request = parseControlMessage(message);
      if (!request || request.method !== 'revoke') return;
      if (request.destination && !request.destination.includes(runtime.hostname)) return;
      const args = request.arguments;
      const ids = (Array.isArray(args.task_id) ? args.task_id : [args.task_id]).filter((id): id is string => typeof id === 'string');
      const signal = typeof args.signal === 'string' ? args.signal : 'SIGTERM';
      const records = ids.map((id) => ({ id, terminate: Boolean(args.terminate), signal, at: Date.now() }));
      this.apply(records);
      // A broadcast aimed at some workers only is not made durable for all.
      if (!request.destination) void this.record(records);
    });
    const backend = runtime.backend;
    if (backend?.revocationsSince) {
      this.syncedUntil = Date.now() - this.keepMs;
      await this.sync();
      this.timer = setInterval(() => void this.sync(), SYNC_EVERY_MS);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.subscription?.cancel();
    this.subscription = null;
  }

  /** Revoke in this worker at once (remote control calls it too). */
  revoke(ids: string[], terminate: boolean, signal = 'SIGTERM'): void {
    this.apply(ids.map((id) => ({ id, terminate, signal, at: Date.now() })));
  }

  isRevoked(id: string): boolean {
    const until = this.revoked.get(id);
    if (until === undefined) return false;
    if (until < Date.now()) {
      this.revoked.delete(id);
      return false;
    }
    return true;
  }

  shouldSkip(request: TaskRequest): Skip | null {
    return this.isRevoked(request.id) ? { reason: 'revoked', expired: false } : null;
  }

  private apply(records: readonly RevocationRecord[]): void {
    const fresh = records.filter((r) => !this.isRevoked(r.id) || r.terminate);
    if (!fresh.length) return;
    for (const { id, at } of fresh) {
      this.revoked.delete(id);
      this.revoked.set(id, at + this.keepMs);
    }
    while (this.revoked.size > MAX_REVOKED) this.revoked.delete(this.revoked.keys().next().value as string);
    this.runtime.log.info({ ids: fresh.map((r) => r.id), terminate: fresh.some((r) => r.terminate) }, 'revoked tasks');
    const terminating = new Map(fresh.filter((r) => r.terminate).map((r) => [r.id, r.signal]));
    if (!terminating.size) return;
    for (const request of this.runtime.activeRequests()) {
      const signal = terminating.get(request.id);
      // `revoked` tells the worker to store REVOKED; `signal` is what a pool process is killed with.
      if (signal) request.abort.abort(Object.assign(new Error(`revoked: terminated (${signal})`), { signal, revoked: true }));
    }
  }

  private async record(records: readonly RevocationRecord[]): Promise<void> {
    try {
      await this.runtime.backend?.recordRevocations?.(records, this.runtime.app.conf.workerRevokeExpires);
    } catch (err) {
      this.runtime.log.warn({ err: (err as Error).message }, 'could not record revocation in the result backend');
    }
  }

  /** Read revocations recorded since the last read (by any client or worker). */
  private async sync(): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    try {
      // Overlap a little: a record written with a slightly earlier clock is still seen.
      const since = this.syncedUntil - 5000;
      const readAt = Date.now();
      const records = await this.runtime.backend?.revocationsSince?.(since);
      if (records) this.apply(records.filter((r) => r.at + this.keepMs > readAt && (!this.isRevoked(r.id) || (r.terminate && this.isActive(r.id)))));
      this.syncedUntil = readAt;
    } catch (err) {
      this.runtime.log.warn({ err: (err as Error).message }, 'could not read revocations from the result backend');
    } finally {
      this.syncing = false;
    }
  }

  private isActive(id: string): boolean {
    return this.runtime.activeRequests().some((r) => r.id === id && !r.abort.signal.aborted);
  }
}
