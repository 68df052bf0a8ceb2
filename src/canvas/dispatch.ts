/**
 * What a worker does with a finished task's workflow fields, as Celery's tracer and
 * `mark_as_done`/`mark_as_failure` do (`celery/app/trace.py`, `celery/backends/base.py`):
 * success applies `link` callbacks and pops the next chain step from the end of `chain`; failure
 * stores FAILURE for every later chain step (so nothing waits forever) and calls the errbacks;
 * either way a chord header task reports its part.
 */
import type { Celery } from '../app/celery.js';
import type { ResultBackend, TaskState } from '../backends/types.js';
import { PROPAGATE_STATES } from '../backends/types.js';
import type { TaskEmbed } from '../protocol/types.js';
import { tracebackText } from '../worker/exceptions.js';
import { Group } from './group.js';
import { callTaskErrbacks, chordPartReturn, failureMeta, frozenTasks, toExceptionInfo, type ErrbackRequest } from './join.js';
import { signature, type SignatureLike } from './signature.js';

/** The parts of a finished request the canvas needs. */
export interface FinishedTask {
  id: string;
  rootId: string | null;
  groupId: string | null;
  groupIndex: number | null;
  embed: TaskEmbed;
  /** What an in-process errback receives as the request. */
  request: ErrbackRequest;
}

/** True when the message carries nothing for the canvas to do (the common, fast case). */
export function hasWorkflow(embed: TaskEmbed): boolean {
  return Boolean(embed.callbacks?.length || embed.chain?.length || embed.chord || embed.errbacks?.length);
}

export async function onTaskSuccess(app: Celery, backend: ResultBackend | null, task: FinishedTask, value: unknown): Promise<void> {
  const lineage = { parent_id: task.id, root_id: task.rootId ?? task.id };
  const callbacks = task.embed.callbacks ?? [];
  if (callbacks.length > 1) {
    // Groups are applied on their own; the other callbacks together as one group.
    const sigs = callbacks.map((cb) => signature(cb, app));
    for (const g of sigs.filter((s) => s instanceof Group)) await g.applyWith([value], {}, lineage);
    const rest = sigs.filter((s) => !(s instanceof Group));
    if (rest.length) await new Group(rest, {}, app).applyWith([value], {}, lineage);
  } else if (callbacks.length === 1) {
    await signature(callbacks[0]!, app).applyWith([value], {}, lineage);
  }
  const chain = task.embed.chain;
  if (chain && chain.length > 0) {
    const next = signature(chain[chain.length - 1]!, app);
    await next.applyWith([value], {}, { ...lineage, chain: chain.slice(0, -1) });
  }
  if (task.embed.chord) await chordPartReturn(app, backend, chordMember(task), 'SUCCESS', value);
}

/** `mark_as_failure` after the failure itself was stored. */
export async function onTaskFailure(app: Celery, backend: ResultBackend | null, task: FinishedTask, error: unknown, state: TaskState = 'FAILURE'): Promise<void> {
  const info = toExceptionInfo(error);
  const traceback = tracebackText(error);
  if (task.embed.chord) await chordPartReturn(app, backend, chordMember(task), state, info);
  // The later steps' states go out together (one write where the backend batches), not one round
  // trip each: a client that saw this task fail then finds them marked sooner.
  const marks: Promise<void>[] = [];
  const chordSteps: { id: string; groupId: string | null; groupIndex: number | null; chord: SignatureLike }[] = [];
  for (const raw of task.embed.chain ?? []) {
    const step = signature(raw, app);
    if (backend && PROPAGATE_STATES.has(state)) {
      for (const { id, groupId } of frozenTasks(step, app)) marks.push(backend.storeResult(failureMeta(id, groupId, state, info, traceback)));
    }
    const chord = step.options.chord as SignatureLike | undefined;
    if (chord && typeof step.options.task_id === 'string') {
      chordSteps.push({ id: step.options.task_id, groupId: (step.options.group_id as string | undefined) ?? null, groupIndex: (step.options.group_index as number | undefined) ?? null, chord });
    }
  }
  await Promise.all(marks);
  for (const member of chordSteps) await chordPartReturn(app, backend, member, state, info);
  if (task.embed.errbacks?.length) await callTaskErrbacks(app, task.request, task.embed.errbacks, error, traceback);
}

/** `mark_as_revoked`: a revoked chord header task still counts as a (failed) part. */
export async function onTaskRevoked(app: Celery, backend: ResultBackend | null, task: FinishedTask, info: unknown): Promise<void> {
  if (task.embed.chord) await chordPartReturn(app, backend, chordMember(task), 'REVOKED', info);
}

function chordMember(task: FinishedTask) {
  return { id: task.id, groupId: task.groupId, groupIndex: task.groupIndex, chord: task.embed.chord! };
}
