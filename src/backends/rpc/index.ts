/**
 * `rpc://`: results travel as AMQP messages, as in Celery's `celery/backends/rpc.py`. The worker
 * publishes `{task_id, status, result, traceback, children}` to the default exchange with routing key
 * = the request's `reply_to` and `correlation_id` = the task id; the client consumes its own reply
 * queue, named after its app oid (non-durable, auto-delete, `x-expires` = `result_expires`), with one
 * consumer shared by every waiter. Results are seen only by the process that sent the task, and only
 * the newest state per task is kept, in memory, as in Celery.
 */
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { confirmPublish, PublisherChannel } from '../../brokers/amqp/publisher.js';
import { AmqpConnection } from '../../brokers/amqp/connection.js';
import { readAmqpOptions } from '../../brokers/amqp/options.js';
import { AMQP_SCHEMES } from '../../brokers/amqp/url.js';
import { CeleriacError, ConfigurationError, TimeoutError } from '../../errors.js';
import { dumps } from '../../protocol/pyjson.js';
import { decode } from '../../protocol/serializers.js';
import { redactUrl, urlScheme } from '../../utils/url.js';
import { checkResultExpires } from '../keyvalue.js';
import { READY_STATES, type ResultBackend, type ResultBackendCapabilities, type ResultMeta, type ResultRequest, type WaitOptions } from '../types.js';

export const RPC_BACKEND_SCHEMES = ['rpc'] as const;

const NOT_SUPPORTED = 'is not supported by the rpc:// result backend (as in Celery): use a result store such as redis:// for groups';

export interface RpcBackendOptions {
  /** The app's broker, whose connection carries the results (Celery's rpc uses `app.connection()`). */
  broker: { url: string; transportOptions?: Record<string, unknown> };
  /** Queue this process receives replies on: the app's oid, sent as `reply_to` with every task. */
  replyTo: string;
  resultExpires?: number | null;
  /** `result_persistent`: publish results with delivery_mode 2 (default 1, transient). */
  persistent?: boolean;
  /** Ready results kept for tasks nobody has asked about yet (Celery's out-of-band buffer); oldest dropped first. */
  maxBuffered?: number;
  onError?: (msg: string, err: Error) => void;
}

interface Waiter {
  /** Called with every reply for the task (`wantsAny`), or only with ready ones. */
  resolve(meta: ResultMeta): void;
  reject(err: unknown): void;
  wantsAny?: boolean;
}

export class RpcResultBackend implements ResultBackend {
  readonly backend = 'rpc';
  readonly url = 'rpc://';
  readonly capabilities: ResultBackendCapabilities = { sharedResults: false, groups: false, expiry: false, extendedMeta: false };
  readonly replyTo: string;
  private readonly connection: AmqpConnection;
  private connecting: Promise<void> | null = null;
  private readonly publisher: PublisherChannel;
  private readonly results = new Map<string, ResultMeta>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly expiresMs: number | null;
  private readonly maxBuffered: number;
  private closed = false;

  constructor(private readonly options: RpcBackendOptions) {
    const scheme = urlScheme(options.broker.url);
    if (!scheme || !(AMQP_SCHEMES as readonly string[]).includes(scheme)) {
      throw new ConfigurationError('result_backend', `rpc:// needs an AMQP broker (amqp://, amqps://, pyamqp://); broker_url is ${redactUrl(options.broker.url)}`);
    }
    if (!options.replyTo) throw new ConfigurationError('result_backend', 'rpc:// needs the reply queue name (the app oid)');
    this.replyTo = options.replyTo;
    const expires = checkResultExpires(options.resultExpires);
    this.expiresMs = expires === null ? null : Math.max(1, Math.round(expires * 1000));
    this.maxBuffered = options.maxBuffered ?? 10_000;
    const amqpOptions = readAmqpOptions(options.broker.url, options.broker.transportOptions, {
      warn: (msg, obj) => options.onError?.(msg, new Error(JSON.stringify(obj ?? {}))),
      error: (msg, obj) => options.onError?.(msg, new Error(JSON.stringify(obj ?? {}))),
    });
    this.publisher = new PublisherChannel(amqpOptions.logger);
    this.connection = new AmqpConnection(amqpOptions, (model) => this.setUp(model));
  }

  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new CeleriacError('result backend rpc:// is closed'));
    this.connecting ??= this.connection.open().catch((err: unknown) => {
      this.connecting = null;
      throw err;
    });
    return this.connecting;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new CeleriacError('result backend rpc:// was closed while waiting for a result');
    for (const set of this.waiters.values()) for (const w of [...set]) w.reject(error);
    this.waiters.clear();
    await this.connection.close();
  }

  /**
   * Send a result to whoever asked for it: `request.replyTo` (empty: nobody, as Celery skips it).
   * Without a request (a result stored by this process for itself) it goes to our own reply queue and
   * resolves once our consumer has it, so a read right after sees it.
   */
  async storeResult(meta: ResultMeta, request?: ResultRequest): Promise<void> {
    const routingKey = request ? request.replyTo : this.replyTo;
    if (!routingKey) return;
    const correlationId = request?.correlationId || meta.task_id;
    const body = Buffer.from(
      dumps({ task_id: meta.task_id, status: meta.status, result: meta.result, traceback: meta.traceback, children: meta.children === undefined ? [] : meta.children }),
      'utf8',
    );
    const own = routingKey === this.replyTo ? this.untilReceived(meta.task_id, meta.status) : null;
    await this.connect();
    const model = await this.connection.current(20_000);
    await confirmPublish(await this.publisher.get(model), '', routingKey, body, {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId,
      deliveryMode: this.options.persistent ? 2 : 1,
      headers: {},
    });
    await own;
  }

  async getTaskMeta(taskId: string): Promise<ResultMeta> {
    return this.results.get(taskId) ?? pending(taskId);
  }

  waitForResult(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    const { timeout, signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const known = this.results.get(taskId);
    if (known && READY_STATES.has(known.status)) return Promise.resolve(known);
    return new Promise<ResultMeta>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const set = this.waiters.get(taskId);
        set?.delete(waiter);
        if (set?.size === 0) this.waiters.delete(taskId);
      };
      const waiter: Waiter = {
        resolve: (meta) => {
          done();
          resolve(meta);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const onAbort = (): void => waiter.reject(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeout !== undefined) {
        timer = setTimeout(() => waiter.reject(new TimeoutError(`The operation timed out waiting for task ${taskId} (${timeout} ms)`)), timeout);
      }
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      set.add(waiter);
      this.connect().catch((err: unknown) => waiter.reject(err));
    });
  }

  async forget(taskId: string): Promise<void> {
    this.results.delete(taskId);
  }

  saveGroup(): Promise<void> {
    return Promise.reject(new CeleriacError(`saveGroup ${NOT_SUPPORTED}`));
  }

  restoreGroup(): Promise<string[] | null> {
    return Promise.reject(new CeleriacError(`restoreGroup ${NOT_SUPPORTED}`));
  }

  deleteGroup(): Promise<void> {
    return Promise.reject(new CeleriacError(`deleteGroup ${NOT_SUPPORTED}`));
  }

  /** Nothing to sweep: results live in memory and the reply queue expires by itself (`x-expires`). */
  async cleanup(): Promise<number> {
    return 0;
  }

  /** Declare the reply queue and consume it (no acks, as Celery's ResultConsumer), on every connection. */
  private async setUp(model: ChannelModel): Promise<void> {
    this.publisher.reset();
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => this.options.onError?.('reply channel error', err));
    const args: Record<string, unknown> = {};
    if (this.expiresMs !== null) args['x-expires'] = this.expiresMs;
    await ch.assertQueue(this.replyTo, { durable: false, autoDelete: true, exclusive: false, arguments: args });
    await ch.consume(this.replyTo, (msg) => msg && this.onReply(msg), { noAck: true });
  }

  private onReply(msg: ConsumeMessage): void {
    let payload: unknown;
    try {
      payload = decode(msg.content, msg.properties.contentType ?? 'application/json', msg.properties.contentEncoding ?? 'utf-8', ['json', 'msgpack', 'yaml']);
    } catch (err) {
      this.options.onError?.('undecodable reply dropped', err as Error);
      return;
    }
    if (!payload || typeof payload !== 'object') return;
    const body = payload as Record<string, unknown>;
    const taskId = typeof msg.properties.correlationId === 'string' && msg.properties.correlationId ? msg.properties.correlationId : String(body.task_id ?? '');
    if (!taskId) return;
    const meta: ResultMeta = {
      status: typeof body.status === 'string' ? body.status : 'PENDING',
      result: body.result ?? null,
      traceback: typeof body.traceback === 'string' ? body.traceback : null,
      children: Array.isArray(body.children) || body.children === null ? (body.children as unknown[] | null) : [],
      date_done: typeof body.date_done === 'string' ? body.date_done : null,
      task_id: taskId,
    };
    // Celery's dedup guard: a late duplicate never turns a SUCCESS into something else.
    const stored = this.results.get(taskId)?.status === 'SUCCESS' ? (this.results.get(taskId) as ResultMeta) : meta;
    if (stored === meta) {
      this.results.delete(taskId);
      this.results.set(taskId, meta);
      if (this.results.size > this.maxBuffered) this.results.delete(this.results.keys().next().value as string);
    }
    for (const w of [...(this.waiters.get(taskId) ?? [])]) {
      if (w.wantsAny) w.resolve(meta);
      else if (READY_STATES.has(stored.status)) w.resolve(stored);
    }
  }

  /** Resolves when our own consumer has received `status` for `taskId`. */
  private untilReceived(taskId: string, status: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new TimeoutError(`rpc://: own reply for ${taskId} not received within 20 s`));
      }, 20_000);
      const waiter: Waiter = {
        wantsAny: true,
        resolve: (meta) => {
          if (meta.status !== status) return;
          cleanup();
          resolve();
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        const set = this.waiters.get(taskId);
        set?.delete(waiter);
        if (set?.size === 0) this.waiters.delete(taskId);
      };
      let set = this.waiters.get(taskId);
      if (!set) this.waiters.set(taskId, (set = new Set()));
      set.add(waiter);
    });
  }
}

function pending(taskId: string): ResultMeta {
  return { status: 'PENDING', result: null, traceback: null, children: [], date_done: null, task_id: taskId };
}

export function createRpcBackend(_url: string, options: Record<string, unknown> & Partial<RpcBackendOptions>): ResultBackend {
  if (!options.broker || !options.replyTo) {
    throw new ConfigurationError('result_backend', 'rpc:// is created by the app, which hands it the broker URL and its reply queue');
  }
  return new RpcResultBackend(options as RpcBackendOptions);
}
