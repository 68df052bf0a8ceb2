/** `updateState` for a running task, wherever it runs (in the worker, a pool thread or a child process). */
import type { Celery } from '../app/celery.js';
import type { JobContext } from './pools/types.js';
import { buildResultMeta, metaSourceOfContext } from './result-meta.js';

/** Store `state` with `meta` as the task's result, as Celery's `update_state` does. */
export async function storeTaskState(app: Celery, context: JobContext, state: string, meta: unknown = null): Promise<void> {
  if (typeof state !== 'string' || !state) throw new TypeError('updateState: state must be a non-empty string');
  const backend = await app.connectBackend();
  if (!backend) return;
  const stored = buildResultMeta(metaSourceOfContext(context), state, meta ?? null, null, { extended: app.conf.resultExtended });
  await backend.storeResult(stored, { replyTo: context.replyTo ?? '', correlationId: context.correlationId });
}
