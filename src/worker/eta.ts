/**
 * Requests whose ETA is in the future. Where the broker has delayed delivery, the message goes back
 * to the broker until it is due (nothing waits in worker memory, no slot is held). Otherwise it waits
 * here on a timer, outside the pool, as Celery's timer does.
 */
import type { TaskRequest } from './request.js';

export class EtaScheduler {
  private readonly timers = new Map<TaskRequest, NodeJS.Timeout>();

  constructor(private readonly onDue: (request: TaskRequest) => void) {}

  /** Returns true when the request was deferred or scheduled, false when it is due now. */
  async schedule(request: TaskRequest): Promise<boolean> {
    const eta = request.eta;
    if (!eta || eta.getTime() <= Date.now()) return false;
    if (await request.defer(eta)) return true;
    const timer = setTimeout(() => {
      this.timers.delete(request);
      this.onDue(request);
    }, eta.getTime() - Date.now());
    this.timers.set(request, timer);
    return true;
  }

  get scheduled(): TaskRequest[] {
    return [...this.timers.keys()];
  }

  /** Stop every timer and return the requests that were waiting. */
  cancelAll(): TaskRequest[] {
    const requests = [...this.timers.keys()];
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    return requests;
  }
}
