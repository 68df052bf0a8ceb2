/**
 * The application: configuration, the task registry, connections to the broker and result
 * backend (opened lazily, once), and the entry points for calling tasks and starting workers.
 */
import { randomUUID } from 'node:crypto';
import { backendUsesReplyQueue, createResultBackend } from '../backends/index.js';
import { redactText } from '../utils/url.js';
import type { ResultBackend } from '../backends/types.js';
import { createBroker } from '../brokers/index.js';
import type { Broker } from '../brokers/types.js';
import { Control } from '../control/control.js';
import { ConfigurationError } from '../errors.js';
import { createLogger, type Logger } from '../utils/logger.js';
import { OpenOnce } from '../utils/open-once.js';
import { Worker, type WorkerOptions } from '../worker/worker.js';
import { applyConfig, configFromEnv, defaultConfig, type Config, type ConfigInput } from './config.js';
import type { ApplyOptions } from './publish.js';
import { publishTask } from './publish.js';
import { currentTask } from './context.js';
import { AsyncResult } from './result.js';
import { Router } from './routing.js';
import { Task, type TaskFunction, type TaskOptions } from './task.js';

export interface CeleryConstructorExtras {
  /** Environment to read `CELERIAC_*` settings from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

export class Celery {
  /** Per-app id used as `reply_to`, like Celery's `app.thread_oid`. */
  readonly oid = randomUUID();
  readonly control = new Control(this);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly registry = new Map<string, Task<any, any>>();
  private config: Config;
  private routerInstance: Router | null = null;
  private logger: Logger | null = null;
  private readonly brokerConnection = new OpenOnce(() => this.openBroker());
  private readonly backendConnection = new OpenOnce(() => this.openBackend());
  /** Workers of this app running in this process (set by the worker; see `onTaskCall`). */
  workersRunning = 0;
  private readonly declaredQueues = new Set<string>();

  constructor(
    readonly main: string,
    options: ConfigInput = {},
    extras: CeleryConstructorExtras = {},
  ) {
    const fromOptions = applyConfig(defaultConfig(), options);
    this.config = applyConfig(fromOptions, configFromEnv(extras.env ?? process.env), 'environment variable');
  }

  get conf(): Readonly<Config> {
    return this.config;
  }

  /** Override settings (the CLI applies its flags here). Must happen before the first connection. */
  configure(overrides: ConfigInput): this {
    if ((this.brokerConnection.started || this.backendConnection.started) && ('brokerUrl' in overrides || 'broker' in overrides || 'resultBackend' in overrides || 'backend' in overrides)) {
      throw new ConfigurationError('broker_url', 'cannot change connection settings after the app has connected');
    }
    this.config = applyConfig(this.config, overrides);
    this.routerInstance = null;
    this.logger = null;
    return this;
  }

  get log(): Logger {
    this.logger ??= createLogger(this.config.logLevel, { app: this.main });
    return this.logger;
  }

  get router(): Router {
    this.routerInstance ??= new Router(this.config.taskRoutes);
    return this.routerInstance;
  }

  /** Register a task. Its argument and result types come from `fn`. */
  task<F extends TaskFunction>(name: string, fn: F): Task<Parameters<F>, Awaited<ReturnType<F>>>;
  task<F extends TaskFunction>(options: TaskOptions, fn: F): Task<Parameters<F>, Awaited<ReturnType<F>>>;
  task<F extends TaskFunction>(nameOrOptions: string | TaskOptions, fn: F): Task<Parameters<F>, Awaited<ReturnType<F>>> {
    const options = typeof nameOrOptions === 'string' ? { name: nameOrOptions } : nameOrOptions;
    if (!options.name) throw new ConfigurationError('task name', 'a task needs a name');
    if (typeof fn !== 'function') throw new ConfigurationError(options.name, 'a task needs a function');
    const task = new Task<Parameters<F>, Awaited<ReturnType<F>>>(this, options, fn as (...args: Parameters<F>) => Awaited<ReturnType<F>>);
    this.registry.set(task.name, task);
    return task;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  getTask(name: string): Task<any, any> | undefined {
    return this.registry.get(name);
  }

  get taskNames(): string[] {
    return [...this.registry.keys()].sort();
  }

  /** Send a task by name; it need not be registered here (it may live in another service or language). */
  async sendTask<R = unknown>(
    name: string,
    args: readonly unknown[] = [],
    kwargs: Record<string, unknown> = {},
    options: ApplyOptions = {},
  ): Promise<AsyncResult<R>> {
    const task = this.registry.get(name);
    const published = await publishTask(this, name, args, kwargs, options, task?.options ?? {});
    return new AsyncResult<R>(published.id, this, name);
  }

  AsyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, this);
  }

  /** A worker for this app, started with `await worker.start()`. */
  worker(options: WorkerOptions = {}): Worker {
    return new Worker(this, options);
  }

  connectBroker(): Promise<Broker> {
    return this.brokerConnection.get();
  }

  connectBackend(): Promise<ResultBackend | null> {
    return this.backendConnection.get();
  }

  private async openBroker(): Promise<Broker> {
    const broker = createBroker(this.config.brokerUrl, this.config.brokerTransportOptions, {
      warn: (msg: string, obj?: object) => this.log.warn(obj ?? {}, msg),
      error: (msg: string, obj?: object) => this.log.error(obj ?? {}, msg),
    });
    await broker.connect();
    return broker;
  }

  private async openBackend(): Promise<ResultBackend | null> {
    if (this.config.resultBackend === null) return null;
    const backend = createResultBackend(this.config.resultBackend, {
      resultExpires: this.config.resultExpires,
      ...this.config.resultBackendTransportOptions,
      // rpc:// rides on the broker connection and receives results on this app's reply queue.
      broker: { url: this.config.brokerUrl, transportOptions: this.config.brokerTransportOptions },
      replyTo: this.oid,
      onError: (msg: string, err: Error) => this.log.error({ err: redactText(err.message) }, `result backend: ${msg}`),
    });
    await backend.connect();
    return backend;
  }

  /**
   * rpc:// (Celery's `on_task_call`): the reply queue must exist before a task is sent, or a fast
   * result would be published to nowhere. A no-op for result stores.
   */
  async prepareReplies(): Promise<void> {
    if (backendUsesReplyQueue(this.config.resultBackend)) await this.connectBackend();
  }

  /**
   * A task of this client is about to be sent: let an open result backend start listening for its
   * result (Celery's `on_task_call`). Not in a process running a worker, nor inside a task, where
   * Celery skips it too (`task_join_will_block`): a worker sending chain steps waits on none of them.
   */
  onTaskCall(taskId: string): void {
    if (this.workersRunning > 0 || currentTask()) return;
    this.backendConnection.peek()?.onTaskCall?.(taskId);
  }

  /** The result backend if it is open now (null when none is configured), else undefined. */
  get backendIfOpen(): ResultBackend | null | undefined {
    return this.backendConnection.peek();
  }

  /** The broker, when it is open and `queue` is already declared: a call can publish at once. */
  brokerReadyFor(queue: string, exchange = '', routingKey = queue): Broker | undefined {
    const broker = this.brokerConnection.peek();
    return broker && this.declaredQueues.has(`${exchange}\u0000${routingKey}\u0000${queue}`) ? broker : undefined;
  }

  /** Whether `prepareReplies` has nothing (left) to do. */
  get repliesReady(): boolean {
    return !backendUsesReplyQueue(this.config.resultBackend) || this.backendConnection.peek() !== undefined;
  }

  /** Declare a queue once per app (Celery's `task_create_missing_queues`). */
  async ensureQueue(queue: string, exchange = '', routingKey = queue): Promise<void> {
    const key = `${exchange}\u0000${routingKey}\u0000${queue}`;
    if (this.declaredQueues.has(key)) return;
    const broker = await this.connectBroker();
    await broker.declareQueue({ name: queue, exchange: exchange || queue, routingKey });
    this.declaredQueues.add(key);
  }

  /** Close the broker and backend connections. */
  async close(): Promise<void> {
    this.declaredQueues.clear();
    const [broker, backend] = await Promise.all([this.brokerConnection.take(), this.backendConnection.take()]);
    await Promise.allSettled([broker?.close(), backend?.close()]);
  }
}
