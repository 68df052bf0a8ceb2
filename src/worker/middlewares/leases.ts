/**
 * Keeps the broker's visibility lease alive for every message this worker still holds (reserved or
 * running), so a live worker's message is never redelivered to another worker just because it
 * outlived the visibility timeout. Only a dead worker's messages come back.
 */
import type { WorkerMiddleware, WorkerRuntime } from '../middleware.js';

export class LeaseMiddleware implements WorkerMiddleware {
  readonly name = 'leases';
  private timer: NodeJS.Timeout | null = null;

  start(runtime: WorkerRuntime): void {
    const timeout = runtime.broker.visibilityTimeout;
    if (!runtime.broker.capabilities.visibilityTimeout || !timeout) return;
    // Renew well before expiry: a third of the timeout leaves two missed renewals of slack.
    const everyMs = Math.max(50, (timeout * 1000) / 3);
    this.timer = setInterval(() => {
      for (const request of runtime.heldRequests()) {
        if (request.isSettled || !request.delivery.extendVisibility) continue;
        request.delivery.extendVisibility(timeout).catch((err: unknown) =>
          runtime.log.warn({ id: request.id, err: (err as Error).message }, 'could not extend visibility'),
        );
      }
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
