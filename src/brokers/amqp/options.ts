/**
 * The AMQP broker's transport options (`broker_transport_options`), validated at startup and naming the
 * option on error. Names are camelCase; kombu's snake_case spellings are accepted too.
 */
import { hostname } from 'node:os';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { ConfigurationError } from '../../errors.js';
import { tlsFromKombuKeys } from '../../utils/tls.js';
import { redactUrl } from '../../utils/url.js';
import { optionKey, readOption, readSeconds, type BrokerLogger } from '../virtual/options.js';
import { parseAmqpUrls, type AmqpEndpoint } from './url.js';

const SETTING = 'broker_transport_options';

export type QueueType = 'classic' | 'quorum';

/** Per-queue declaration settings (Celery's `Queue(..., queue_arguments=…, max_priority=…)`). */
export interface QueueSettings {
  maxPriority?: number;
  queueType?: QueueType;
  /** Raw `x-…` queue arguments, merged last. */
  arguments?: Record<string, unknown>;
}

export interface AmqpOptions {
  endpoints: AmqpEndpoint[];
  redactedUrl: string;
  /** Shown in RabbitMQ's connection list (`connection_name` client property). */
  connectionName: string;
  /** Seconds; 0 disables (Celery's `broker_heartbeat` is 120). */
  heartbeat: number;
  connectTimeoutMs: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  tls: TlsOptions | undefined;
  /** Settings every queue declared here gets (`task_queue_max_priority`, `task_default_queue_type`, `queue_arguments`). */
  queueDefaults: QueueSettings;
  /** Settings of named queues, over the defaults. */
  queues: Record<string, QueueSettings>;
  /** Exchange that rejected (`requeue: false`) messages are republished to; null: plain basic.reject. */
  deadLetterExchange: string | null;
  /**
   * Channel-wide (`global`) basic.qos: one prefetch limit over all of a subscription's queues, changed
   * at runtime in place, as Celery sets it. Quorum queues refuse it; those are known from the options,
   * or learnt from RabbitMQ's refusal (see AmqpBroker), and get per-consumer QoS.
   */
  globalQos: boolean;
  /** Route ETA/countdown messages through Celery's native delayed-delivery exchanges. */
  delayedDelivery: boolean;
  delayedDeliveryQueueType: QueueType;
  /** kombu's prefix for the delayed-delivery names (`<prefix>_celery_delayed_<n>`); empty for none. */
  delayedDeliveryPrefix: string;
  logger?: BrokerLogger;
}

export function readAmqpOptions(url: string, opts: Record<string, unknown> | undefined, logger?: BrokerLogger): AmqpOptions {
  const endpoints = parseAmqpUrls(url);
  const query = endpoints[0]?.query;
  const heartbeatFromQuery = query?.get('heartbeat');
  const heartbeat =
    heartbeatFromQuery !== null && heartbeatFromQuery !== undefined
      ? Number(heartbeatFromQuery)
      : readSeconds(opts, SETTING, { name: 'heartbeat', default: 120, min: 0 });
  if (!Number.isFinite(heartbeat) || heartbeat < 0) throw new ConfigurationError('broker_url', 'heartbeat must be a number of seconds >= 0');
  const connectionName = readString(opts, 'connectionName') ?? `celeriac ${hostname()} pid ${process.pid}`;
  return {
    endpoints,
    redactedUrl: redactUrl(url),
    connectionName,
    heartbeat: Math.round(heartbeat),
    connectTimeoutMs: readSeconds(opts, SETTING, { name: 'connectTimeout', default: 4, min: 0, exclusiveMin: true }) * 1000,
    reconnectInitialMs: readSeconds(opts, SETTING, { name: 'reconnectInitial', default: 0.1, min: 0, exclusiveMin: true }) * 1000,
    reconnectMaxMs: readSeconds(opts, SETTING, { name: 'reconnectMax', default: 10, min: 0, exclusiveMin: true }) * 1000,
    tls: tlsOptions(endpoints, opts),
    queueDefaults: {
      ...queueSettings(
        {
          maxPriority: readOption(opts, 'queueMaxPriority'),
          queueType: readOption(opts, 'queueType'),
          arguments: readOption(opts, 'queueArguments'),
        },
        SETTING,
      ),
    },
    queues: readQueues(opts),
    deadLetterExchange: readDeadLetter(opts),
    globalQos: readBool(opts, 'globalQos', true),
    delayedDelivery: readBool(opts, 'delayedDelivery', true),
    delayedDeliveryQueueType: readQueueType(readOption(opts, 'delayedDeliveryQueueType') ?? 'quorum', `${SETTING}.delayedDeliveryQueueType`),
    delayedDeliveryPrefix: readString(opts, 'delayedDeliveryPrefix') ?? '',
    logger,
  };
}

/** The queue arguments (`x-…`) a declaration of `name` carries, from the defaults, per-queue settings and the call. */
export function queueArguments(options: AmqpOptions, name: string, maxPriority?: number): Record<string, unknown> {
  const perQueue = options.queues[name] ?? {};
  const merged: QueueSettings = { ...options.queueDefaults, ...stripUndefined(perQueue) };
  if (maxPriority !== undefined) merged.maxPriority = maxPriority;
  const args: Record<string, unknown> = {};
  if (merged.queueType === 'quorum') args['x-queue-type'] = 'quorum';
  if (merged.maxPriority !== undefined) args['x-max-priority'] = merged.maxPriority;
  return { ...args, ...options.queueDefaults.arguments, ...perQueue.arguments };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function readQueues(opts: Record<string, unknown> | undefined): Record<string, QueueSettings> {
  const raw = readOption(opts, 'queues');
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigurationError(`${SETTING}.queues`, 'expected an object of queue name → settings');
  return Object.fromEntries(
    Object.entries(raw as Record<string, unknown>).map(([name, value]) => {
      if (typeof value !== 'object' || value === null) throw new ConfigurationError(`${SETTING}.queues.${name}`, 'expected an object');
      const v = value as Record<string, unknown>;
      return [name, queueSettings({ maxPriority: readOption(v, 'maxPriority'), queueType: readOption(v, 'queueType'), arguments: v.arguments }, `${SETTING}.queues.${name}`)];
    }),
  );
}

function queueSettings(raw: { maxPriority: unknown; queueType: unknown; arguments: unknown }, where: string): QueueSettings {
  const out: QueueSettings = {};
  if (raw.maxPriority !== undefined && raw.maxPriority !== null) {
    const p = raw.maxPriority;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 255) {
      throw new ConfigurationError(`${where}.maxPriority`, `must be an integer 1..255 (RabbitMQ's x-max-priority), got ${JSON.stringify(p)}`);
    }
    out.maxPriority = p;
  }
  if (raw.queueType !== undefined && raw.queueType !== null) out.queueType = readQueueType(raw.queueType, `${where}.queueType`);
  if (raw.arguments !== undefined && raw.arguments !== null) {
    if (typeof raw.arguments !== 'object' || Array.isArray(raw.arguments)) throw new ConfigurationError(`${where}.arguments`, 'expected an object of x-arguments');
    out.arguments = raw.arguments as Record<string, unknown>;
  }
  return out;
}

function readQueueType(value: unknown, where: string): QueueType {
  if (value !== 'classic' && value !== 'quorum') throw new ConfigurationError(where, `must be "classic" or "quorum", got ${JSON.stringify(value)}`);
  return value;
}

function readDeadLetter(opts: Record<string, unknown> | undefined): string | null {
  const value = readOption(opts, 'deadLetterExchange');
  if (value === undefined || value === null || value === true) return 'celeriac.dlx';
  if (value === false) return null;
  if (typeof value !== 'string' || !value) throw new ConfigurationError(`${SETTING}.deadLetterExchange`, 'expected an exchange name or false');
  return value;
}

function readString(opts: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = readOption(opts, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ConfigurationError(`${SETTING}.${optionKey(opts, name)}`, `expected a string, got ${JSON.stringify(value)}`);
  return value;
}

function readBool(opts: Record<string, unknown> | undefined, name: string, fallback: boolean): boolean {
  const value = readOption(opts, name);
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new ConfigurationError(`${SETTING}.${optionKey(opts, name)}`, `expected true or false, got ${JSON.stringify(value)}`);
  return value;
}

/** TLS for amqps:// from the `ssl` option (kombu's `broker_use_ssl` keys) or the URL query. */
function tlsOptions(endpoints: AmqpEndpoint[], opts: Record<string, unknown> | undefined): TlsOptions | undefined {
  if (!endpoints.some((e) => e.protocol === 'amqps')) return undefined;
  const ssl = readOption(opts, 'ssl');
  const fromOption = ssl && typeof ssl === 'object' ? (ssl as Record<string, unknown>) : {};
  const query = endpoints[0]?.query;
  const get = (name: string): string | undefined => {
    const v = query?.get(name) ?? fromOption[name];
    return typeof v === 'string' ? v : undefined;
  };
  const tls = tlsFromKombuKeys(
    (key) => get(key) ?? get(`ssl_${key}`),
    (key) => `${SETTING}.ssl.${key}`,
  );
  const serverName = get('server_hostname');
  if (serverName) tls.servername = serverName;
  return tls;
}
