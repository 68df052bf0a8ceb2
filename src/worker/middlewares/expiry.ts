/** Skips requests whose `expires` time has passed; they end REVOKED with reason "expired". */
import type { Skip, WorkerMiddleware } from '../middleware.js';
import type { TaskRequest } from '../request.js';

export class ExpiryMiddleware implements WorkerMiddleware {
  readonly name = 'expiry';

  shouldSkip(request: TaskRequest): Skip | null {
    if (request.expires && request.expires.getTime() <= Date.now()) return { reason: 'expired', expired: true };
    return null;
  }
}
