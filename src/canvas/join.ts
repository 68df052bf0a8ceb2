/**
 * The worker's side of chords and errbacks, after `celery/backends/base.py` and `redis.py`:
 * recording a finished chord part (the native Redis join), sending the body with the header's
 * results, turning a failed header into a `ChordError` for the body's errbacks and result, and
 * invoking errbacks as Celery does (in-process with `(request, error, traceback)` when the errback
 * task is registered here and takes more than one argument, else sent with the failed task's id).
 */
import type { Celery } from '../app/celery.js';
import type { ExceptionInfo, ResultBackend, ResultMeta, TaskState } from '../backends/types.js';
import { EXCEPTION_STATES, PROPAGATE_STATES } from '../backends/types.js';
import type { ChordPart, ChordPartInput } from '../backends/redis/chord.js';
import { CeleriacError } from '../errors.js';
import { formatIsoUtc } from '../protocol/message.js';
import { pyRepr } from '../protocol/repr.js';
import type { SignatureDict } from '../protocol/types.js';
import { exceptionInfo, tracebackText } from '../worker/exceptions.js';
import { Group } from './group.js';
import { GroupResult } from './group-result.js';
import { maybeSignature, signature, Signature, type SignatureLike } from './signature.js';

/** A task of a chord failed, or the body could not be sent (`celery.exceptions.ChordError`). */
export class ChordError extends CeleriacError {
  override name = 'ChordError';
  readonly excType = 'ChordError';
  readonly excModule = 'celery.exceptions';
}

/** Backends with Celery's native chord join (Redis). */
interface NativeJoinBackend extends ResultBackend {
  supportsNativeJoin: true;
  chordPartReturn(part: ChordPartInput): Promise<ChordPart[] | null>;
  deleteChord(groupId: string): Promise<void>;
}

export function hasNativeJoin(backend: ResultBackend | null): backend is NativeJoinBackend {
  return Boolean(backend && (backend as Partial<NativeJoinBackend>).supportsNativeJoin && typeof (backend as Partial<NativeJoinBackend>).chordPartReturn === 'function');
}

/** What an errback sees of the failed task when called in-process. */
export interface ErrbackRequest {
  id: string | null;
  rootId?: string | null;
  [field: string]: unknown;
}

/** A finished member of a chord header: its id, group, position and the chord body it carries. */
export interface ChordMember {
  id: string;
  groupId: string | null;
  groupIndex: number | null;
  chord: SignatureLike;
}

/**
 * Celery's `on_chord_part_return`. With the native join the part is counted in Redis and the one
 * call that completes the header sends the body; other backends join through `celery.chord_unlock`.
 */
export async function chordPartReturn(app: Celery, backend: ResultBackend | null, member: ChordMember, state: TaskState, result: unknown): Promise<void> {
  if (!hasNativeJoin(backend) || !member.groupId || !member.id) return;
  const stored = EXCEPTION_STATES.has(state) ? toExceptionInfo(result) : result;
  const parts = await backend.chordPartReturn({ taskId: member.id, groupId: member.groupId, groupIndex: member.groupIndex, state, result: stored });
  if (!parts) return;
  const callback = maybeSignature(member.chord, app);
  let values: unknown[];
  try {
    const saved = await GroupResult.restore(app, member.groupId);
    values = saved ? await joinOrChordError(saved) : parts.map(unpackChordPart);
  } catch (err) {
    const error = err instanceof ChordError ? err : new ChordError(`Join error: ${errorRepr(err)}`);
    app.log.error({ group: member.groupId, err: error.message }, `Chord ${member.groupId} raised: ${error.message}`);
    await chordErrorFromStack(app, backend, callback, error);
    return;
  }
  try {
    await callback.applyWith([values]);
  } catch (err) {
    await chordErrorFromStack(app, backend, callback, new ChordError(`Callback error: ${errorRepr(err)}`));
  } finally {
    await backend.deleteChord(member.groupId);
  }
}

/** `_unpack_chord_result`: a failed part fails the chord with the part's id and error. */
function unpackChordPart(part: ChordPart): unknown {
  if (PROPAGATE_STATES.has(part.state)) throw new ChordError(`Dependency ${part.taskId} raised ${infoRepr(toExceptionInfo(part.result))}`);
  return part.result;
}

/** Join a header's results; the first failure (in order) becomes a ChordError naming that task. */
export async function joinOrChordError(deps: GroupResult<unknown[]>): Promise<unknown[]> {
  try {
    return await deps.join({ timeout: 3000 });
  } catch (err) {
    const culprit = await firstFailedId(deps);
    throw new ChordError(culprit ? `Dependency ${culprit} raised ${errorRepr(err)}` : errorRepr(err));
  }
}

async function firstFailedId(group: GroupResult<unknown[]>): Promise<string | null> {
  for (const r of group.results) {
    if (r instanceof GroupResult) {
      const inner = await firstFailedId(r);
      if (inner) return inner;
    } else if (await r.failed()) {
      return r.id;
    }
  }
  return null;
}

/**
 * `chord_error_from_stack`: the body's errbacks get the error (with the body's id), then the body's
 * result is stored as FAILURE. When the body is a chain (or another canvas), every task it would
 * have run is marked FAILURE too, so whoever waits on the chord's result is answered.
 */
export async function chordErrorFromStack(app: Celery, backend: ResultBackend | null, callback: Signature, error: Error): Promise<void> {
  const id = (callback.options.task_id as string | undefined) ?? null;
  const request: ErrbackRequest = { ...callback.toDict(), id, errbacks: callback.options.link_error ?? [] };
  let stored: unknown = error;
  try {
    await callTaskErrbacks(app, request, listOf(callback.options.link_error), error, null);
  } catch (errbackError) {
    stored = errbackError;
  }
  await markFailed(backend, app, callback, stored, null);
}

/**
 * `_call_task_errbacks`. An errback registered in this worker whose function takes more than one
 * parameter is called here with `(request, error, traceback)`; every other one is sent as a task
 * with the failed task's id (`parent_id` = that id), all together as one group.
 */
export async function callTaskErrbacks(app: Celery, request: ErrbackRequest, errbacks: readonly SignatureLike[], error: unknown, traceback: string | null): Promise<void> {
  const sendable: Signature[] = [];
  for (const raw of errbacks) {
    const errback = signature(raw, app);
    const task = errback.subtaskType ? undefined : app.getTask(errback.task);
    if (task && task.paramNames.length > 1) {
      const [args, kwargs] = errback.merge([request, error, traceback], {}, null);
      await task.runWith(args, kwargs);
    } else {
      sendable.push(errback);
    }
  }
  if (sendable.length === 0 || !request.id) return;
  await new Group(sendable, {}, app).applyWith([request.id], {}, { parent_id: request.id, root_id: request.rootId ?? request.id });
}

/** Store FAILURE for every task a signature would have run (its frozen ids). */
export async function markFailed(backend: ResultBackend | null, app: Celery, sig: Signature, error: unknown, traceback: string | null, state: TaskState = 'FAILURE'): Promise<void> {
  if (!backend) return;
  const info = toExceptionInfo(error);
  const tb = traceback ?? tracebackText(error);
  for (const { id, groupId } of frozenTasks(sig, app)) {
    await backend.storeResult(failureMeta(id, groupId, state, info, tb));
  }
}

/** Ids (with group) of the tasks inside a frozen signature, descending into chains, groups and chords. */
export function frozenTasks(sig: Signature, app: Celery): { id: string; groupId: string | null }[] {
  const kids = (value: unknown): Signature[] => (Array.isArray(value) ? value.map((v) => maybeSignature(v as SignatureLike, app)) : []);
  switch (sig.subtaskType) {
    case 'chain':
    case 'group':
      return kids(sig.kwargs.tasks).flatMap((t) => frozenTasks(t, app));
    case 'chord': {
      const header = sig.kwargs.header;
      const headerTasks = header instanceof Signature ? kids(header.kwargs.tasks) : kids(header);
      const body = sig.kwargs.body ? [maybeSignature(sig.kwargs.body as SignatureLike, app)] : [];
      return [...headerTasks, ...body].flatMap((t) => frozenTasks(t, app));
    }
    default: {
      const id = sig.options.task_id;
      return typeof id === 'string' ? [{ id, groupId: (sig.options.group_id as string | undefined) ?? null }] : [];
    }
  }
}

export function failureMeta(id: string, groupId: string | null, state: TaskState, info: ExceptionInfo, traceback: string | null): ResultMeta {
  const meta = { status: state, result: info, traceback, children: [], date_done: formatIsoUtc(new Date()) } as Omit<ResultMeta, 'task_id'> as ResultMeta;
  if (groupId) meta.group_id = groupId;
  meta.task_id = id;
  return meta;
}

export function toExceptionInfo(value: unknown): ExceptionInfo {
  if (value && typeof value === 'object' && typeof (value as ExceptionInfo).exc_type === 'string') return value as ExceptionInfo;
  return exceptionInfo(value);
}

/** Python's `repr(exc)`, e.g. `ValueError('bad')`. */
export function infoRepr(info: ExceptionInfo): string {
  const args = Array.isArray(info.exc_message) ? info.exc_message : [info.exc_message];
  return `${info.exc_type}(${args.map((a) => pyRepr(a)).join(', ')})`;
}

function errorRepr(error: unknown): string {
  const e = error as { excType?: string; excMessage?: unknown[] };
  if (e && typeof e.excType === 'string' && Array.isArray(e.excMessage)) return `${e.excType}(${e.excMessage.map((a) => pyRepr(a)).join(', ')})`;
  return infoRepr(toExceptionInfo(error));
}

export function listOf(value: unknown): SignatureLike[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]) as SignatureLike[];
}

export type { SignatureDict };
