/**
 * Builders for the result meta a worker stores, field for field as Celery writes it
 * (`celery/backends/base.py::_get_result_meta`), including the `result_extended` fields.
 */
import type { ExceptionInfo, ResultMeta, TaskState } from '../backends/types.js';
import { READY_STATES } from '../backends/types.js';
import { nowIsoUtc } from '../protocol/dates.js';

export interface MetaSource {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  groupId: string | null;
  parentId: string | null;
  retries: number;
  queue: string;
  hostname: string;
}

export interface MetaOptions {
  extended: boolean;
}

export function buildResultMeta(
  source: MetaSource,
  status: TaskState,
  result: unknown,
  traceback: string | null,
  options: MetaOptions,
): ResultMeta {
  // Key order matters for byte-compatibility with Celery's stored JSON: task_id comes last.
  const meta = {
    status,
    result,
    traceback,
    children: [],
    date_done: READY_STATES.has(status) ? nowIsoUtc() : null,
  } as Omit<ResultMeta, 'task_id'> as ResultMeta;
  if (source.groupId) meta.group_id = source.groupId;
  if (source.parentId) meta.parent_id = source.parentId;
  if (options.extended) {
    meta.name = source.name;
    meta.args = source.args;
    meta.kwargs = source.kwargs;
    meta.worker = source.hostname;
    meta.retries = source.retries;
    meta.queue = source.queue;
  }
  meta.task_id = source.id;
  return meta;
}

export const revokedInfo = (reason: string): ExceptionInfo => ({
  exc_type: 'TaskRevokedError',
  exc_message: [reason],
  exc_module: 'celery.exceptions',
});

export const notRegisteredInfo = (name: string): ExceptionInfo => ({
  exc_type: 'NotRegistered',
  exc_message: [name],
  exc_module: 'celery.exceptions',
});

/** The meta source of a running task's context (where no TaskRequest is at hand: a pool worker). */
export function metaSourceOfContext(context: Omit<MetaSource, 'queue'> & { deliveryInfo: { routing_key: string } }): MetaSource {
  const { id, name, args, kwargs, groupId, parentId, retries, hostname } = context;
  return { id, name, args, kwargs, groupId, parentId, retries, hostname, queue: context.deliveryInfo.routing_key };
}
