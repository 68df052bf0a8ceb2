/**
 * Revocation: listens for Celery's `revoke` broadcast on the pidbox exchange, remembers revoked
 * ids (bounded, like Celery's LimitedSet), skips them, and aborts a running one with `terminate`.
 * (Durable revocations shared by every worker come with the worker-semantics work.)
 */
import type { FanoutSubscription } from '../../brokers/types.js';
import { parseControlMessage, PIDBOX_EXCHANGE } from '../../control/pidbox.js';
import type { Skip, WorkerMiddleware, WorkerRuntime } from '../middleware.js';
import type { TaskRequest } from '../request.js';

const MAX_REVOKED = 50_000;
const REVOKED_TTL_MS = 3 * 3600 * 1000;

export class RevocationMiddleware implements WorkerMiddleware {
  readonly name = 'revocation';
  private readonly revoked = new Map<string, number>();
  private subscription: FanoutSubscription | null = null;
  private runtime!: WorkerRuntime;

  async start(runtime: WorkerRuntime): Promise<void> {
    this.runtime = runtime;
    this.subscription = await runtime.broker.subscribeFanout(PIDBOX_EXCHANGE, (message) => {
      const request = parseControlMessage(message);
      if (!request || request.method !== 'revoke') return;
      if (request.destination && !request.destination.includes(runtime.hostname)) return;
      const args = request.arguments;
      const ids = Array.isArray(args.task_id) ? args.task_id : [args.task_id];
      this.revoke(ids.filter((id): id is string => typeof id === 'string'), Boolean(args.terminate));
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.cancel();
    this.subscription = null;
  }

  revoke(ids: string[], terminate: boolean): void {
    const now = Date.now();
    for (const id of ids) {
      this.revoked.delete(id);
      this.revoked.set(id, now + REVOKED_TTL_MS);
    }
    while (this.revoked.size > MAX_REVOKED) this.revoked.delete(this.revoked.keys().next().value as string);
    this.runtime.log.info({ ids, terminate }, 'revoked tasks');
    if (!terminate) return;
    for (const request of this.runtime.activeRequests()) {
      if (ids.includes(request.id)) request.abort.abort(new Error('revoked: terminated'));
    }
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
}
