/**
 * One task request held by a worker: the decoded message, its delivery (settled exactly once),
 * the registered task, and the abort controller that time limits and revocation use.
 */
import type { DeliveryInfo, Delivery } from '../brokers/types.js';
import type { TaskContext, TaskContextSource } from '../app/context.js';
import type { Task } from '../app/task.js';
import type { DecodedTaskMessage, TaskEmbed } from '../protocol/types.js';
import { parseIsoDate } from '../protocol/message.js';
import type { MetaSource } from './result-meta.js';
import { storeTaskState } from './task-state.js';

export class TaskRequest implements TaskContextSource {
  readonly id: string;
  readonly name: string;
  readonly args: unknown[];
  readonly kwargs: Record<string, unknown>;
  readonly embed: TaskEmbed;
  readonly eta: Date | null;
  readonly expires: Date | null;
  readonly receivedAt = Date.now();
  private abortController: AbortController | null = null;
  startedAt: number | null = null;
  private settled = false;
  private builtContext: TaskContext | null = null;

  constructor(
    readonly message: DecodedTaskMessage,
    readonly delivery: Delivery,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    readonly task: Task<any, any>,
    readonly hostname: string,
  ) {
    const h = message.headers;
    this.id = h.id;
    this.name = h.task;
    this.args = message.args;
    this.kwargs = message.kwargs;
    this.embed = message.embed;
    this.eta = h.eta ? parseIsoDate(h.eta) : null;
    this.expires = h.expires ? parseIsoDate(h.expires) : null;
  }

  get headers() {
    return this.message.headers;
  }

  /** Created on first use: most tasks never look at their signal, and a controller costs. */
  get abort(): AbortController {
    return (this.abortController ??= new AbortController());
  }

  /** Why the task was aborted, or undefined; does not create the controller. */
  get abortReason(): unknown {
    const signal = this.abortController?.signal;
    return signal?.aborted ? signal.reason : undefined;
  }

  get isSettled(): boolean {
    return this.settled;
  }

  get deliveryInfo(): DeliveryInfo {
    return this.delivery.deliveryInfo;
  }

  // Not async: an async function costs a promise of its own per task.
  ack(): Promise<void> {
    return this.settle() ? this.delivery.ack() : SETTLED;
  }

  async reject(requeue: boolean, reason?: string): Promise<void> {
    if (this.settle()) await this.delivery.reject(requeue, reason);
  }

  /** Hand the message back to the broker until `when` (ETA). Returns false if the broker cannot. */
  async defer(when: Date): Promise<boolean> {
    if (!this.delivery.deferUntil) return false;
    if (this.settle()) await this.delivery.deferUntil(when);
    return true;
  }

  /** The task failed: let the broker keep the message under its own retry policy (SQS backoff). */
  async retryAfterFailure(): Promise<boolean> {
    if (this.settled || !this.delivery.retryAfterFailure) return false;
    const kept = await this.delivery.retryAfterFailure();
    if (kept) this.settled = true;
    return kept;
  }

  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    return true;
  }

  /** The task's context, made on first use (see `TaskContextSource`) and then kept. */
  context(): TaskContext {
    return (this.builtContext ??= this.buildContext());
  }

  private buildContext(): TaskContext {
    const h = this.message.headers;
    const properties = this.message.properties;
    // The signal and the custom headers are own getters, built only when read: most tasks never
    // read them, and an AbortController plus a header scan would cost every task.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const request = this;
    let custom: Record<string, unknown> | null = null;
    return {
      id: this.id,
      name: this.name,
      args: this.args,
      kwargs: this.kwargs,
      retries: h.retries,
      rootId: h.root_id,
      parentId: h.parent_id,
      groupId: h.group,
      groupIndex: h.group_index,
      eta: this.eta,
      expires: this.expires,
      hostname: this.hostname,
      deliveryInfo: this.delivery.deliveryInfo,
      replyTo: (properties.reply_to as string | undefined) ?? null,
      correlationId: (properties.correlation_id as string | undefined) ?? this.id,
      origin: h.origin ?? null,
      timeLimit: h.timelimit,
      get signal(): AbortSignal {
        return request.abort.signal;
      },
      get headers(): Record<string, unknown> {
        return (custom ??= customHeaders(h));
      },
      updateState(state: string, meta?: unknown): Promise<void> {
        return storeTaskState(request.task.app, this, state, meta);
      },
    };
  }

  metaSource(): MetaSource {
    return metaSourceOf(this.message, this.delivery, this.hostname);
  }
}

const SETTLED = Promise.resolve();

export function metaSourceOf(message: DecodedTaskMessage, delivery: Delivery, hostname: string): MetaSource {
  const h = message.headers;
  return {
    id: h.id,
    name: h.task,
    args: message.args,
    kwargs: message.kwargs,
    groupId: h.group,
    parentId: h.parent_id,
    retries: h.retries,
    queue: delivery.deliveryInfo.routing_key || delivery.queue,
    hostname,
  };
}

const PROTOCOL_HEADERS = new Set([
  'lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index', 'retries', 'timelimit', 'root_id',
  'parent_id', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result', 'replaced_task_nesting', 'stamped_headers',
  'stamps', 'compression', 'redelivered',
]);

function customHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !PROTOCOL_HEADERS.has(k)));
}
