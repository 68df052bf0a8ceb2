/**
 * One AMQP connection that comes back by itself. A lost connection (server restart, network cut,
 * `rabbitmqctl close_connection`) is retried with capped exponential backoff over the failover hosts;
 * each new connection is announced through `onConnected`, so the broker can redeclare its topology and
 * resume its consumers on it. Errors are reported with the URL redacted.
 */
import type { ChannelModel } from 'amqplib';
import { BrokerConnectionError } from '../../errors.js';
import { redactText } from '../../utils/url.js';
import type { AmqpOptions } from './options.js';
import type { AmqpEndpoint } from './url.js';

type Listener = (model: ChannelModel, reconnected: boolean) => Promise<void>;
type LossListener = (err?: Error) => void;

export class AmqpConnection {
  private model: ChannelModel | null = null;
  /** The newest connection, set before its setup runs (so a loss during setup is seen too). */
  private latest: ChannelModel | null = null;
  private readonly dead = new WeakSet<ChannelModel>();
  private ready: Deferred<ChannelModel> = new Deferred();
  private closed = false;
  private connectedOnce = false;
  private reconnecting = false;
  private readonly secrets: string[];
  private retryTimer: NodeJS.Timeout | null = null;
  private wakeRetry: (() => void) | null = null;

  constructor(
    private readonly options: AmqpOptions,
    private readonly onConnected: Listener,
    private readonly onLost?: LossListener,
  ) {
    this.secrets = options.endpoints.map((e) => e.password).filter((p) => p.length > 2);
  }

  /** First connection: every host is tried once; a failure is thrown (the app's retry policy decides). */
  async open(): Promise<void> {
    const model = await this.connectAny();
    await this.adopt(model, false);
  }

  /** The live connection, waiting up to `timeoutMs` for a reconnect in progress. */
  async current(timeoutMs: number): Promise<ChannelModel> {
    if (this.closed) throw new BrokerConnectionError(`amqp broker ${this.options.redactedUrl} is closed`);
    if (this.model) return this.model;
    return this.ready.wait(timeoutMs, () => new BrokerConnectionError(`amqp broker ${this.options.redactedUrl}: not connected (reconnecting)`));
  }

  get connected(): boolean {
    return this.model !== null;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.wakeRetry?.();
    this.ready.reject(new BrokerConnectionError(`amqp broker ${this.options.redactedUrl} is closed`));
    const model = this.model;
    this.model = null;
    await model?.close().catch(() => undefined);
  }

  /** Redact any password that a driver error might echo. */
  redact(err: unknown): string {
    return redactText(err instanceof Error ? err.message : String(err), this.secrets);
  }

  private async connectAny(): Promise<ChannelModel> {
    let last: unknown;
    for (const endpoint of this.options.endpoints) {
      try {
        return await this.connectTo(endpoint);
      } catch (err) {
        last = err;
      }
    }
    throw new BrokerConnectionError(`cannot connect to amqp broker ${this.options.redactedUrl}: ${this.redact(last)}`);
  }

  private async connectTo(endpoint: AmqpEndpoint): Promise<ChannelModel> {
    const o = this.options;
    // Loaded on first use, so processes on other brokers do not carry amqplib.
    const { default: amqp } = await import('amqplib');
    return amqp.connect(
      {
        protocol: endpoint.protocol,
        hostname: endpoint.hostname,
        port: endpoint.port,
        username: endpoint.username,
        password: endpoint.password,
        vhost: endpoint.vhost,
        heartbeat: o.heartbeat,
      },
      {
        timeout: o.connectTimeoutMs,
        clientProperties: { connection_name: o.connectionName, product: 'celeriac' },
        ...(endpoint.protocol === 'amqps' ? o.tls : {}),
      },
    );
  }

  private async adopt(model: ChannelModel, reconnected: boolean): Promise<void> {
    if (this.closed) {
      await model.close().catch(() => undefined);
      return;
    }
    this.latest = model;
    model.on('error', (err: Error) => this.options.logger?.warn('amqp: connection error', { err: this.redact(err) }));
    model.on('close', (err?: Error) => {
      this.dead.add(model);
      this.lost(model, err);
    });
    model.on('blocked', (reason: string) => this.options.logger?.warn('amqp: connection blocked by the broker (resource alarm)', { reason }));
    // Run the broker's setup before publishing the connection, so no operation sees half a topology.
    await this.onConnected(model, reconnected);
    if (this.dead.has(model)) throw new BrokerConnectionError('amqp: connection lost during setup');
    this.model = model;
    this.connectedOnce = true;
    const ready = this.ready;
    this.ready = new Deferred();
    ready.resolve(model);
  }

  private lost(model: ChannelModel, err?: Error): void {
    if (this.latest !== model) return;
    this.model = null;
    this.onLost?.(err);
    // Before the first success the caller of open() gets the error and decides; afterwards we retry.
    if (this.closed || !this.connectedOnce) return;
    this.options.logger?.warn('amqp: connection lost; reconnecting', { url: this.options.redactedUrl, err: err ? this.redact(err) : undefined });
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      for (let attempt = 0; !this.closed; attempt++) {
        try {
          const model = await this.connectAny();
          await this.adopt(model, true);
          this.options.logger?.warn('amqp: reconnected', { url: this.options.redactedUrl, attempts: attempt + 1 });
          return;
        } catch (err) {
          const delay = Math.min(this.options.reconnectMaxMs, this.options.reconnectInitialMs * 2 ** attempt);
          this.options.logger?.error('amqp: reconnect failed; retrying', { err: this.redact(err), attempt: attempt + 1, retryInMs: delay });
          await new Promise<void>((resolve) => {
            this.wakeRetry = resolve;
            this.retryTimer = setTimeout(resolve, delay);
          });
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }
}

/** A promise resolved from outside, waited on with a deadline. */
class Deferred<T> {
  private settled: { ok: true; value: T } | { ok: false; error: unknown } | null = null;
  private readonly waiters = new Set<{ resolve: (v: T) => void; reject: (e: unknown) => void }>();

  resolve(value: T): void {
    this.settle({ ok: true, value });
  }

  reject(error: unknown): void {
    this.settle({ ok: false, error });
  }

  wait(timeoutMs: number, onTimeout: () => Error): Promise<T> {
    const s = this.settled;
    if (s) return s.ok ? Promise.resolve(s.value) : Promise.reject(s.error);
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        resolve: (v: T) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(onTimeout());
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private settle(result: { ok: true; value: T } | { ok: false; error: unknown }): void {
    if (this.settled) return;
    this.settled = result;
    for (const w of this.waiters) {
      if (result.ok) w.resolve(result.value);
      else w.reject(result.error);
    }
    this.waiters.clear();
  }
}

