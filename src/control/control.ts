/** The client side of remote control (`app.control`). */
import type { Celery } from '../app/celery.js';
import { buildControlMessage, PIDBOX_EXCHANGE } from './pidbox.js';

export interface RevokeOptions {
  terminate?: boolean;
  signal?: string;
  /** Only these worker node names act on it; default all. */
  destination?: string[];
}

export class Control {
  constructor(private readonly app: Celery) {}

  /**
   * Revoke: workers skip the task, or stop it with `terminate`. Without a `destination`, the
   * revocation is first recorded in the result backend, so workers started later, or offline now,
   * honour it too; then Celery's `revoke` broadcast tells the running workers at once.
   */
  async revoke(taskId: string | string[], options: RevokeOptions = {}): Promise<void> {
    const ids = Array.isArray(taskId) ? taskId : [taskId];
    if (!options.destination) {
      const backend = await this.app.connectBackend();
      const at = Date.now();
      const signal = options.signal ?? 'SIGTERM';
      await backend?.recordRevocations?.(ids.map((id) => ({ id, terminate: options.terminate ?? false, signal, at })), this.app.conf.workerRevokeExpires);
    }
    const broker = await this.app.connectBroker();
    const message = buildControlMessage({
      method: 'revoke',
      arguments: { task_id: taskId, terminate: options.terminate ?? false, signal: options.signal ?? 'SIGTERM' },
      destination: options.destination ?? null,
      pattern: null,
      matcher: null,
    });
    await broker.publishFanout(PIDBOX_EXCHANGE, '', message);
  }
}
