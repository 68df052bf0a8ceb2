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

  /** Broadcast Celery's `revoke` command: workers skip the task, or stop it with `terminate`. */
  async revoke(taskId: string | string[], options: RevokeOptions = {}): Promise<void> {
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
