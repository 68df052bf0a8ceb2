/**
 * Sending a signature dict as a task, reading its options the way Celery's `Signature.apply_async`
 * does (`task_id`, `queue`, `priority`, `countdown`, `link`, …), so signatures built in Python work too.
 */
import type { Celery } from '../app/celery.js';
import type { ApplyOptions } from '../app/publish.js';
import { publishTask } from '../app/publish.js';
import type { SignatureDict } from '../protocol/types.js';

export interface SignatureCall {
  /** Arguments prepended to the signature's own (the parent's result); ignored when immutable. */
  prependArgs?: unknown[];
  parentId?: string | null;
  rootId?: string;
  chain?: SignatureDict[] | null;
}

export async function applySignature(app: Celery, sig: SignatureDict, call: SignatureCall = {}): Promise<string> {
  const args = sig.immutable ? [...(sig.args ?? [])] : [...(call.prependArgs ?? []), ...(sig.args ?? [])];
  const options = signatureOptions(sig.options ?? {});
  if (call.parentId !== undefined) options.parentId = call.parentId;
  if (call.rootId !== undefined) options.rootId = call.rootId;
  if (call.chain !== undefined) options.chain = call.chain;
  const task = app.getTask(sig.task);
  const published = await publishTask(app, sig.task, args, sig.kwargs ?? {}, options, task?.options ?? {});
  return published.id;
}

function signatureOptions(o: Record<string, unknown>): ApplyOptions {
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
  if (typeof o.eta === 'string') out.eta = o.eta;
  if (typeof o.expires === 'string' || typeof o.expires === 'number') out.expires = o.expires;
  if (typeof o.ignore_result === 'boolean') out.ignoreResult = o.ignore_result;
  if (typeof o.group_id === 'string') out.groupId = o.group_id;
  if (typeof o.group_index === 'number') out.groupIndex = o.group_index;
  if (Array.isArray(o.link)) out.link = o.link as SignatureDict[];
  else if (o.link && typeof o.link === 'object') out.link = o.link as SignatureDict;
  if (Array.isArray(o.link_error)) out.linkError = o.link_error as SignatureDict[];
  else if (o.link_error && typeof o.link_error === 'object') out.linkError = o.link_error as SignatureDict;
  if (o.chord && typeof o.chord === 'object') out.chord = o.chord as SignatureDict;
  if (o.headers && typeof o.headers === 'object') out.headers = o.headers as Record<string, unknown>;
  for (const key of Object.keys(out) as (keyof ApplyOptions)[]) if (out[key] === undefined) delete out[key];
  return out;
}
