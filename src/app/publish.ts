/**
 * Turning a call (`delay`, `applyAsync`, `sendTask`) into a published protocol-v2 message: ids,
 * parent/root linkage from the running task, ETA/expiry, routing, and publish retries.
 */
import type { SignatureLike } from '../canvas/signature.js';
import { toSignatureDict } from '../canvas/signature.js';
import { buildTaskMessage, parseIsoDate } from '../protocol/message.js';
import type { SignatureDict, TransportMessage } from '../protocol/types.js';
import type { Broker } from '../brokers/types.js';
import type { FirstFailure, RetryPolicy } from '../utils/retry.js';
import { retryWithPolicy } from '../utils/retry.js';
import { taskId } from '../utils/uuid.js';
import { redactText, redactUrl } from '../utils/url.js';
import { BrokerConnectionError, CeleriacError } from '../errors.js';
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
  /** SQS FIFO queues: the message group (kombu's `MessageGroupId` property; `default` when absent). */
  messageGroupId?: string;
  /** SQS FIFO queues: the deduplication id (kombu's `MessageDeduplicationId`; a random one when absent). */
  messageDeduplicationId?: string;
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

/** A message built for one call, with where it goes. */
interface PreparedTask extends PublishedTask {
  message: TransportMessage;
  exchange: string;
  routingKey: string;
  priority: number;
  eta: Date | null;
}

export function publishTask(
  app: Celery,
  name: string,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  options: ApplyOptions = {},
  defaults: TaskPublishDefaults = {},
): Promise<PublishedTask> {
  let prepared: PreparedTask;
  try {
    prepared = prepareTask(app, name, args, kwargs, options, defaults);
  } catch (err) {
    return Promise.reject(err);
  }
  const published: PublishedTask = { id: prepared.id, queue: prepared.queue, ignoreResult: prepared.ignoreResult };
  // Connected and declared (every call after the first): the message goes to the broker in this
  // turn, without the connect/declare/retry steps in between; the retry policy takes over only
  // if this first attempt fails.
  const broker = app.brokerReadyFor(prepared.queue, prepared.exchange, prepared.routingKey);
  if (broker && (prepared.ignoreResult || app.repliesReady)) {
    const sent = publishTo(broker, prepared).then(
      () => published,
      (error: unknown) => publishPrepared(app, name, prepared, options, { error }).then(() => published),
    );
    // Listening for the result starts now, in this turn: the store defers its own writes to after
    // the turn, so the message, written on this turn's microtasks, still goes first.
    if (!prepared.ignoreResult) app.onTaskCall(prepared.id);
    return sent;
  }
  return publishPrepared(app, name, prepared, options).then(() => published);
}

/** Connect, declare and publish, with the retry policy; `failedOnce` is a first attempt's error. */
async function publishPrepared(app: Celery, name: string, prepared: PreparedTask, options: ApplyOptions, failedOnce?: FirstFailure): Promise<void> {
  if (!prepared.ignoreResult && !failedOnce) {
    await app.prepareReplies();
    // After this turn, when the message has been written: the subscription's own write then
    // does not delay the message (the result it waits for cannot come before the message).
    setImmediate(() => app.onTaskCall(prepared.id));
  }
  // Connecting is part of what is retried: a broker that is down at the first call is retried too.
  const send = async () => {
    const broker = await app.connectBroker();
    await app.ensureQueue(prepared.queue, prepared.exchange, prepared.routingKey);
    await publishTo(broker, prepared);
  };
  await sendWithRetry(app, name, prepared.id, options, send, failedOnce);
}

function publishTo(broker: Broker, prepared: PreparedTask): Promise<void> {
  const { message, exchange, routingKey, priority } = prepared;
  return broker.publish(message, { exchange, routingKey }, { priority, deliverAt: deliverAt(prepared.eta, broker) });
}

/**
 * Many calls of one task in one go (BullMQ's `addBulk`): every message is built first, then the
 * broker stores them together where it can (one LPUSH per Redis list). Options apply to every call.
 */
export async function publishTasks(
  app: Celery,
  name: string,
  calls: readonly { args: readonly unknown[]; kwargs?: Readonly<Record<string, unknown>> }[],
  options: ApplyOptions = {},
  defaults: TaskPublishDefaults = {},
): Promise<PublishedTask[]> {
  if (options.taskId !== undefined) throw new TypeError('publishing many tasks: taskId cannot be shared; leave it out');
  const prepared = calls.map((call) => prepareTask(app, name, call.args, call.kwargs ?? {}, options, defaults));
  if (prepared.some((p) => !p.ignoreResult)) await app.prepareReplies();
  const send = async (): Promise<void> => {
    const broker = await app.connectBroker();
    // Each distinct queue once (a bulk send is usually one queue), not an await per message.
    const queues = new Map(prepared.map((p) => [`${p.queue}\u0000${p.exchange}\u0000${p.routingKey}`, p]));
    for (const p of queues.values()) await app.ensureQueue(p.queue, p.exchange, p.routingKey);
    const batch = prepared.map((p) => ({
      message: p.message,
      target: { exchange: p.exchange, routingKey: p.routingKey },
      options: { priority: p.priority, deliverAt: deliverAt(p.eta, broker) },
    }));
    if (broker.publishMany) await broker.publishMany(batch);
    else for (const item of batch) await broker.publish(item.message, item.target, item.options);
  };
  await sendWithRetry(app, name, prepared[0]?.id ?? '', options, send);
  return prepared.map((p) => ({ id: p.id, queue: p.queue, ignoreResult: p.ignoreResult }));
}

function deliverAt(eta: Date | null, broker: Broker): Date | null {
  return eta && eta.getTime() > Date.now() && broker.capabilities.delayedDelivery ? eta : null;
}

/** `send` under the publish retry policy; `failedOnce` is the error of an attempt already made. */
async function sendWithRetry(app: Celery, name: string, id: string, options: ApplyOptions, send: () => Promise<void>, failedOnce?: FirstFailure): Promise<void> {
  const conf = app.conf;
  const retry = options.retry ?? conf.taskPublishRetry;
  const policy = { ...conf.taskPublishRetryPolicy, ...options.retryPolicy };
  try {
    if (failedOnce && !retry) throw failedOnce.error;
    if (!retry) return await send();
    const onRetry = (err: unknown, attempt: number, delayMs: number) =>
      app.log.warn({ task: name, id, attempt, delayMs, err: redactText((err as Error).message) }, 'publish failed, retrying');
    await retryWithPolicy(send, policy, onRetry, undefined, failedOnce);
  } catch (err) {
    if (err instanceof CeleriacError && !(err instanceof BrokerConnectionError)) throw err;
    const tries = retry ? `after ${(policy.maxRetries ?? 3) + 1} attempts` : 'without retrying (retry is off)';
    throw new BrokerConnectionError(`could not send ${name}[${id}] to broker ${redactUrl(conf.brokerUrl)} ${tries}: ${redactText((err as Error).message)}`, { cause: err });
  }
}

function prepareTask(
  app: Celery,
  name: string,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  options: ApplyOptions,
  defaults: TaskPublishDefaults,
): PreparedTask {
  const conf = app.conf;
  const id = options.taskId ?? taskId();
  const parent = currentTask();
  const now = Date.now();
  const eta = options.countdown !== undefined ? new Date(now + options.countdown * 1000) : toDate(options.eta, 'eta');
  const expires = toExpiry(options.expires, now);
  const route = app.router.route(name, args, kwargs);
  const queue = options.queue ?? defaults.queue ?? route?.queue ?? conf.taskDefaultQueue;
  const exchange = options.exchange ?? defaults.exchange ?? route?.exchange ?? '';
  const routingKey = options.routingKey ?? defaults.routingKey ?? route?.routingKey ?? queue;
  const priority = options.priority ?? route?.priority ?? defaults.priority ?? conf.taskDefaultPriority ?? undefined;
  const ignoreResult = options.ignoreResult ?? defaults.ignoreResult ?? conf.taskIgnoreResult;
  const message = buildTaskMessage({
    taskName: name,
    id,
    args,
    kwargs,
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
  // Celery passes unknown apply_async options on as message properties; kombu's SQS reads these two.
  if (options.messageGroupId !== undefined) message.properties.MessageGroupId = options.messageGroupId;
  if (options.messageDeduplicationId !== undefined) message.properties.MessageDeduplicationId = options.messageDeduplicationId;
  return { id, queue, ignoreResult, message, exchange, routingKey, priority: priority ?? 0, eta };
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
