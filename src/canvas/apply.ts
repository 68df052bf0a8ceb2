/**
 * Sending one task from a signature, reading its options under Celery's names the way
 * `Task.apply_async` does (`task_id`, `queue`, `priority`, `countdown`, `link`, `chain`, `chord`,
 * `parent_id`, …), so signatures built in Python are sent the same way.
 */
import type { Celery } from '../app/celery.js';
import type { ApplyOptions } from '../app/publish.js';
import { publishTask } from '../app/publish.js';
import type { SignatureDict } from '../protocol/types.js';
import { plain, type WireOptions } from './signature.js';

/** Publish `task` with these arguments and options; resolves with the task id. */
export async function sendTaskSignature(app: Celery, task: string, args: readonly unknown[], kwargs: Record<string, unknown>, options: WireOptions): Promise<string> {
  const registered = app.getTask(task);
  const published = await publishTask(app, task, plain(args) as unknown[], plain(kwargs) as Record<string, unknown>, applyOptionsOf(options), registered?.options ?? {});
  return published.id;
}

/** Celery's option names to `ApplyOptions`; unknown options are ignored as `apply_async` ignores them. */
export function applyOptionsOf(o: WireOptions): ApplyOptions {
  const out: ApplyOptions = {};
  const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const num = (k: string) => (typeof o[k] === 'number' ? (o[k] as number) : undefined);
  out.taskId = str('task_id');
  out.queue = str('queue');
  out.exchange = str('exchange');
  out.routingKey = str('routing_key');
  out.priority = num('priority');
  out.countdown = num('countdown');
  out.shadow = str('shadow');
  out.timeLimit = num('time_limit');
  out.softTimeLimit = num('soft_time_limit');
  out.retries = num('retries');
  out.rootId = str('root_id');
  if (typeof o.parent_id === 'string') out.parentId = o.parent_id;
  if (typeof o.eta === 'string') out.eta = o.eta;
  if (typeof o.expires === 'string' || typeof o.expires === 'number') out.expires = o.expires;
  if (typeof o.ignore_result === 'boolean') out.ignoreResult = o.ignore_result;
  if (typeof o.group_id === 'string') out.groupId = o.group_id;
  if (typeof o.group_index === 'number') out.groupIndex = o.group_index;
  if (o.link !== undefined && o.link !== null) out.link = toDictList(o.link);
  if (o.link_error !== undefined && o.link_error !== null) out.linkError = toDictList(o.link_error);
  if (Array.isArray(o.chain)) out.chain = o.chain.map((s) => plain(s) as SignatureDict);
  if (o.chord && typeof o.chord === 'object') out.chord = plain(o.chord) as SignatureDict;
  if (o.headers && typeof o.headers === 'object') out.headers = o.headers as Record<string, unknown>;
  if (o.serializer === 'json' || o.serializer === 'msgpack' || o.serializer === 'yaml') out.serializer = o.serializer;
  if (typeof o.compression === 'string') out.compression = o.compression;
  for (const key of Object.keys(out) as (keyof ApplyOptions)[]) if (out[key] === undefined) delete out[key];
  return out;
}

function toDictList(value: unknown): SignatureDict[] {
  return (Array.isArray(value) ? value : [value]).map((s) => plain(s) as SignatureDict);
}
