/**
 * Turning a call (`delay`, `applyAsync`, `sendTask`) into a published protocol-v2 message: ids,
 * parent/root linkage from the running task, ETA/expiry, routing, and publish retries.
 */
import { randomUUID } from 'node:crypto';
import type { SignatureLike } from '../canvas/signature.js';
import { toSignatureDict } from '../canvas/signature.js';
import { buildTaskMessage, parseIsoDate } from '../protocol/message.js';
import type { SignatureDict } from '../protocol/types.js';
import type { RetryPolicy } from '../utils/retry.js';
import { retryWithPolicy } from '../utils/retry.js';
import type { Celery } from './celery.js';
import { currentTask } from './context.js';

/** Options of `applyAsync` / `sendTask`, Celery's `apply_async` options in camelCase. */
export interface ApplyOptions {
  /** Seconds from now. */
  countdown?: number;
  eta?: Date | string;
  /** Seconds from now, or an absolute time. */
  expires?: number | Date | string;
  priority?: number;
  queue?: string;
  routingKey?: string;
  exchange?: string;
  /** Extra message headers, merged at the top level as Celery does. */
  headers?: Record<string, unknown>;
  taskId?: string;
  serializer?: 'json' | 'msgpack' | 'yaml';
  compression?: string | null;
  link?: SignatureLike | SignatureLike[];
  linkError?: SignatureLike | SignatureLike[];
  ignoreResult?: boolean;
  /** Hard time limit, seconds. */
  timeLimit?: number;
  /** Soft time limit, seconds. */
  softTimeLimit?: number;
  shadow?: string;
  /** Retry publishing if the broker fails (default from `taskPublishRetry`). */
  retry?: boolean;
  retryPolicy?: RetryPolicy;
  /** Workflow fields, set by canvas and retries. */
  parentId?: string | null;
  rootId?: string;
  groupId?: string | null;
  groupIndex?: number | null;
  retries?: number;
  chain?: SignatureDict[] | null;
  chord?: SignatureDict | null;
}

/** Per-task defaults that apply when a call does not override them. */
export interface TaskPublishDefaults {
  queue?: string;
  exchange?: string;
  routingKey?: string;
  priority?: number;
  ignoreResult?: boolean;
  serializer?: 'json' | 'msgpack' | 'yaml';
  compression?: string | null;
  timeLimit?: number | null;
  softTimeLimit?: number | null;
}

export interface PublishedTask {
  id: string;
  queue: string;
  ignoreResult: boolean;
}

export async function publishTask(
  app: Celery,
  name: string,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  options: ApplyOptions = {},
  defaults: TaskPublishDefaults = {},
): Promise<PublishedTask> {
  const conf = app.conf;
  const id = options.taskId ?? randomUUID();
  const parent = currentTask();
  const now = Date.now();
  const eta = options.countdown !== undefined ? new Date(now + options.countdown * 1000) : toDate(options.eta, 'eta');
  const expires = toExpiry(options.expires, now);
  const route = app.router.route(name, [...args], { ...kwargs });
  const queue = options.queue ?? defaults.queue ?? route?.queue ?? conf.taskDefaultQueue;
  const exchange = options.exchange ?? defaults.exchange ?? route?.exchange ?? '';
  const routingKey = options.routingKey ?? defaults.routingKey ?? route?.routingKey ?? queue;
  const priority = options.priority ?? route?.priority ?? defaults.priority ?? conf.taskDefaultPriority ?? undefined;
  const ignoreResult = options.ignoreResult ?? defaults.ignoreResult ?? conf.taskIgnoreResult;
  const message = buildTaskMessage({
    taskName: name,
    id,
    args: [...args],
    kwargs: { ...kwargs },
    eta,
    expires,
    expiresSeconds: expires ? (expires.getTime() - now) / 1000 : null,
    group: options.groupId ?? null,
    groupIndex: options.groupIndex ?? null,
    retries: options.retries ?? 0,
    timeLimit: options.timeLimit ?? defaults.timeLimit ?? null,
    softTimeLimit: options.softTimeLimit ?? defaults.softTimeLimit ?? null,
    rootId: options.rootId ?? parent?.rootId ?? id,
    parentId: options.parentId !== undefined ? options.parentId : (parent?.id ?? null),
    shadow: options.shadow ?? null,
    ignoreResult,
    replyTo: app.oid,
    priority: priority ?? 0,
    serializer: options.serializer ?? defaults.serializer ?? conf.taskSerializer,
    compression: options.compression !== undefined ? options.compression : (defaults.compression ?? conf.taskCompression),
    headers: options.headers ?? {},
    callbacks: toDicts(options.link),
    errbacks: toDicts(options.linkError),
    chain: options.chain ?? null,
    chord: options.chord ?? null,
  });
  const broker = await app.connectBroker();
  await app.ensureQueue(queue, exchange, routingKey);
  const deliverAt = eta && eta.getTime() > Date.now() && broker.capabilities.delayedDelivery ? eta : null;
  const send = () => broker.publish(message, { exchange, routingKey }, { priority: priority ?? 0, deliverAt });
  const retry = options.retry ?? conf.taskPublishRetry;
  if (retry) {
    await retryWithPolicy(send, { ...conf.taskPublishRetryPolicy, ...options.retryPolicy }, (err, attempt, delayMs) =>
      app.log.warn({ task: name, id, attempt, delayMs, err: (err as Error).message }, 'publish failed, retrying'),
    );
  } else {
    await send();
  }
  return { id, queue, ignoreResult };
}

function toDicts(value: SignatureLike | SignatureLike[] | undefined): SignatureDict[] | null {
  if (value === undefined) return null;
  const list = Array.isArray(value) ? value : [value];
  return list.length ? list.map(toSignatureDict) : null;
}

function toDate(value: Date | string | undefined, what: string): Date | null {
  if (value === undefined || value === null) return null;
  const date = value instanceof Date ? value : parseIsoDate(value);
  if (Number.isNaN(date.getTime())) throw new TypeError(`${what}: not a valid date: ${String(value)}`);
  return date;
}

function toExpiry(value: number | Date | string | undefined, now: number): Date | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number') return new Date(now + value * 1000);
  return toDate(value, 'expires');
}
