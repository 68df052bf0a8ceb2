/**
 * Celery's built-in canvas tasks (`celery/app/builtins.py`), which any worker of a mixed fleet may
 * receive: `celery.chord_unlock` (the chord join on backends without a native one), `celery.map`,
 * `celery.starmap` and `celery.chunks`. Workers register them when they start.
 */
import type { Celery } from '../app/celery.js';
import { currentTask } from '../app/context.js';
import { publishTask } from '../app/publish.js';
import { NotRegisteredError } from '../errors.js';
import type { SignatureDict } from '../protocol/types.js';
import { CHORD_UNLOCK_COUNTDOWN } from './chord.js';
import { GroupResult, resultFromTuple } from './group-result.js';
import { ChordError, chordErrorFromStack, joinOrChordError } from './join.js';
import { Chunks } from './map.js';
import { maybeSignature, type SignatureLike } from './signature.js';

export const CHORD_UNLOCK = 'celery.chord_unlock';

export function registerCanvasTasks(app: Celery): void {
  if (!app.getTask(CHORD_UNLOCK)) {
    app.task(
      { name: CHORD_UNLOCK, ignoreResult: true, maxRetries: null, params: ['group_id', 'callback', 'interval', 'max_retries', 'result'] },
      (groupId: string, callback: SignatureDict, interval: number | null = null, maxRetries: number | null = null, result: unknown[] = []) =>
        unlockChord(app, groupId, callback, interval, maxRetries, result),
    );
  }
  if (!app.getTask('celery.map')) {
    app.task({ name: 'celery.map', params: ['task', 'it'] }, async (task: SignatureLike, it: unknown[]) => {
      const fn = registered(app, task);
      const out: unknown[] = [];
      for (const item of it) out.push(await fn.runWith([item], {}));
      return out;
    });
  }
  if (!app.getTask('celery.starmap')) {
    app.task({ name: 'celery.starmap', params: ['task', 'it'] }, async (task: SignatureLike, it: unknown[][]) => {
      const fn = registered(app, task);
      const out: unknown[] = [];
      for (const item of it) out.push(await fn.runWith(item, {}));
      return out;
    });
  }
  if (!app.getTask('celery.chunks')) {
    app.task({ name: 'celery.chunks', params: ['task', 'it', 'n'] }, async (task: SignatureLike, it: unknown[][], n: number) => {
      const result = await new Chunks(maybeSignature(task, app), it, n, {}, app).applyWith();
      return result.asTuple();
    });
  }
}

/** As Celery's `celery.map`: the mapped task's own function, called here, once per item. */
function registered(app: Celery, task: SignatureLike) {
  const name = maybeSignature(task, app).task;
  const fn = app.getTask(name);
  if (!fn) throw new NotRegisteredError(name);
  return fn;
}

/**
 * `celery.chord_unlock`: when every header result is ready, send the body with the results in
 * order, or a ChordError to its errbacks when one failed; otherwise look again in `interval`
 * seconds by sending this task again with the same id (Celery's retry). With `max_retries` set and
 * used up, the chord fails with a ChordError instead of never completing.
 */
async function unlockChord(app: Celery, groupId: string, callbackDict: SignatureDict, interval: number | null, maxRetries: number | null, result: unknown[]): Promise<void> {
  const callback = maybeSignature(callbackDict, app);
  const deps = new GroupResult(groupId, result.map((r) => resultFromTuple(app, r)), app);
  const backend = await app.connectBackend();
  if (!(await deps.ready())) {
    const ctx = currentTask();
    const retries = ctx?.retries ?? 0;
    if (maxRetries !== null && retries >= maxRetries) {
      await chordErrorFromStack(app, backend, callback, new ChordError(`chord ${groupId} was not ready after ${retries} checks`));
      return;
    }
    await publishTask(app, CHORD_UNLOCK, [groupId, callbackDict], { interval, max_retries: maxRetries, result }, {
      taskId: ctx?.id,
      countdown: interval ?? CHORD_UNLOCK_COUNTDOWN,
      retries: retries + 1,
      queue: ctx?.deliveryInfo.routing_key || undefined,
      parentId: ctx?.parentId ?? null,
      rootId: ctx?.rootId,
      ignoreResult: true,
    });
    return;
  }
  let values: unknown[];
  try {
    values = await joinOrChordError(deps);
  } catch (err) {
    app.log.error({ group: groupId, err: (err as Error).message }, `Chord ${groupId} raised: ${(err as Error).message}`);
    await chordErrorFromStack(app, backend, callback, err as Error);
    return;
  }
  try {
    await callback.applyWith([values]);
  } catch (err) {
    await chordErrorFromStack(app, backend, callback, new ChordError(`Callback error: ${(err as Error).message}`));
  }
}
