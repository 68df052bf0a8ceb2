/**
 * Redis URLs and connection options, shared by the Redis broker and the Redis result backend.
 *
 * Accepted, as kombu and Celery accept them (celery-reference §2.8):
 *   redis://[user:pass@]host[:port][/db]          rediss://… (TLS; `ssl_cert_reqs`, `ssl_ca_certs`, …)
 *   redis+socket:///path/to/redis.sock[?virtual_host=db]   socket:///path?virtual_host=db
 *   sentinel://[:pass@]h1:26379;sentinel://h2:26380  (+ the `masterName` transport option)
 * Bad URLs and options fail here, naming the setting, before any connection is made.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import { ConfigurationError } from '../../errors.js';
import { tlsFromKombuKeys } from '../../utils/tls.js';
import { redactUrl, urlScheme } from '../../utils/url.js';
import { optionKey, readOption, readSeconds } from '../virtual/options.js';

export const REDIS_SCHEMES = ['redis', 'rediss', 'redis+socket', 'socket', 'sentinel'] as const;

export interface RedisConnectionSpec {
  /** ioredis options for the main connection; blocking and subscriber connections are copies. */
  options: RedisOptions;
  /** Database number (`SELECT`), also used in kombu's fanout channel prefix `/{db}.`. */
  db: number;
  /** The URL with its password redacted. */
  redactedUrl: string;
}


/**
 * Parse a Redis URL plus transport options into connection options. `setting` names the URL's
 * setting (`broker_url`, `result_backend`) and `optionsSetting` the options' setting, for errors.
 */
export function parseRedisUrl(
  url: string,
  transportOptions: Record<string, unknown> | undefined,
  setting: string,
  optionsSetting: string,
): RedisConnectionSpec {
  const scheme = urlScheme(url);
  const redactedUrl = redactUrl(url);
  if (!scheme || !(REDIS_SCHEMES as readonly string[]).includes(scheme)) {
    throw new ConfigurationError(setting, `not a Redis URL: ${redactedUrl}`);
  }
  const common = commonOptions(transportOptions, optionsSetting);
  if (scheme === 'sentinel') return sentinelSpec(url, transportOptions, common, setting, optionsSetting, redactedUrl);
  let parsed: URL;
  try {
    parsed = new URL(scheme === 'redis+socket' ? url.slice('redis+'.length) : url);
  } catch {
    throw new ConfigurationError(setting, `cannot parse Redis URL ${redactedUrl}`);
  }
  const auth = credentials(parsed);
  if (scheme === 'socket' || scheme === 'redis+socket') {
    if (!parsed.pathname || parsed.pathname === '/') throw new ConfigurationError(setting, `a socket URL needs a path: ${redactedUrl}`);
    const db = parseDb(parsed.searchParams.get('virtual_host') ?? parsed.searchParams.get('db') ?? '0', setting, redactedUrl);
    return { db, redactedUrl, options: { ...common, ...auth, path: decodeURIComponent(parsed.pathname), db } };
  }
  const db = parseDb(parsed.pathname.replace(/^\//, '') || parsed.searchParams.get('db') || '0', setting, redactedUrl);
  const port = parsed.port ? Number(parsed.port) : 6379;
  const options: RedisOptions = { ...common, ...auth, host: parsed.hostname || '127.0.0.1', port, db };
  const tls = tlsOptions(scheme, parsed.searchParams, transportOptions, setting, optionsSetting);
  if (tls) options.tls = tls;
  return { db, redactedUrl, options };
}

/** Open a connection that reconnects forever and reports its errors instead of throwing them. */
export function openRedis(spec: RedisConnectionSpec, extra: RedisOptions = {}): Redis {
  return new Redis({ ...spec.options, ...extra });
}

function parseDb(text: string, setting: string, redactedUrl: string): number {
  const db = Number(text);
  if (!Number.isInteger(db) || db < 0) throw new ConfigurationError(setting, `Redis database must be an integer >= 0 in ${redactedUrl}`);
  return db;
}

function credentials(parsed: URL): Pick<RedisOptions, 'username' | 'password'> {
  const out: Pick<RedisOptions, 'username' | 'password'> = {};
  if (parsed.username) out.username = decodeURIComponent(parsed.username);
  if (parsed.password) out.password = decodeURIComponent(parsed.password);
  return out;
}

function commonOptions(options: Record<string, unknown> | undefined, setting: string): RedisOptions {
  const seconds = (name: string): number | undefined => {
    const value = readOption(options, name);
    if (value === undefined || value === null) return undefined;
    return readSeconds(options, setting, { name, default: 0, min: 0, exclusiveMin: true }) * 1000;
  };
  const out: RedisOptions = {
    // No auto-pipelining: it holds every command until setImmediate, which costs each round trip
    // tens of microseconds (measured: an idle round trip through a worker 0.22 ms without, 0.38 ms
    // with). The hot paths batch their own calls per tick instead (puts, reserves, acks, results).
    enableAutoPipelining: false,
    // Fail a command after a few reconnect attempts so callers log and retry, instead of hanging.
    maxRetriesPerRequest: 3,
    lazyConnect: true,
    retryStrategy: (times) => Math.min(2000, 50 * 2 ** Math.min(times, 6)),
  };
  const socketTimeout = seconds('socketTimeout');
  if (socketTimeout !== undefined) out.socketTimeout = socketTimeout;
  const connectTimeout = seconds('socketConnectTimeout');
  if (connectTimeout !== undefined) out.connectTimeout = connectTimeout;
  const keepalive = readOption(options, 'socketKeepalive');
  if (keepalive === false) out.keepAlive = 0;
  const clientName = readOption(options, 'clientName');
  if (clientName !== undefined) {
    if (typeof clientName !== 'string') throw new ConfigurationError(`${setting}.${optionKey(options, 'clientName')}`, 'expected a string');
    out.connectionName = clientName;
  }
  return out;
}

function sentinelSpec(
  url: string,
  transportOptions: Record<string, unknown> | undefined,
  common: RedisOptions,
  setting: string,
  optionsSetting: string,
  redactedUrl: string,
): RedisConnectionSpec {
  const masterName = readOption(transportOptions, 'masterName');
  if (typeof masterName !== 'string' || !masterName) {
    throw new ConfigurationError(`${optionsSetting}.masterName`, `a sentinel:// URL needs the masterName transport option (${redactedUrl})`);
  }
  let password: string | undefined;
  let db = 0;
  const sentinels = url.split(';').map((part) => {
    let parsed: URL;
    try {
      parsed = new URL(part.trim().replace(/^sentinel:/i, 'redis:'));
    } catch {
      throw new ConfigurationError(setting, `cannot parse sentinel URL ${redactedUrl}`);
    }
    if (parsed.password) password = decodeURIComponent(parsed.password);
    const path = parsed.pathname.replace(/^\//, '');
    if (path) db = parseDb(path, setting, redactedUrl);
    return { host: parsed.hostname, port: parsed.port ? Number(parsed.port) : 26379 };
  });
  const sentinelKwargs = readOption(transportOptions, 'sentinelKwargs');
  const sentinelPassword =
    sentinelKwargs && typeof sentinelKwargs === 'object' && typeof (sentinelKwargs as { password?: unknown }).password === 'string'
      ? (sentinelKwargs as { password: string }).password
      : undefined;
  const options: RedisOptions = { ...common, sentinels, name: masterName, db };
  if (password !== undefined) options.password = password;
  if (sentinelPassword !== undefined) options.sentinelPassword = sentinelPassword;
  return { db, redactedUrl, options };
}

/** kombu's `ssl_cert_reqs` / `ssl_ca_certs` / `ssl_certfile` / `ssl_keyfile`, from the query or an `ssl` option. */
function tlsOptions(
  scheme: string,
  query: URLSearchParams,
  transportOptions: Record<string, unknown> | undefined,
  setting: string,
  optionsSetting: string,
): TlsOptions | undefined {
  const fromOption = readOption(transportOptions, 'ssl');
  const sslQuery = [...query.keys()].filter((k) => k.startsWith('ssl_'));
  if (scheme !== 'rediss') {
    if (sslQuery.length > 0) throw new ConfigurationError(setting, `SSL parameters (${sslQuery.join(', ')}) need a rediss:// URL`);
    return undefined;
  }
  const get = (name: string): string | undefined => {
    const fromObj = fromOption && typeof fromOption === 'object' ? (fromOption as Record<string, unknown>)[name] : undefined;
    return query.get(name) ?? (typeof fromObj === 'string' ? fromObj : undefined);
  };
  const tls = tlsFromKombuKeys(
    (key) => get(`ssl_${key}`),
    (key) => (key === 'cert_reqs' ? setting : `${optionsSetting}.ssl_${key}`),
  );
  // kombu's broker default for a bare rediss:// (it warns about it); docs/redis.md says so.
  tls.rejectUnauthorized ??= false;
  return tls;
}

/** Connect a freshly built Redis component, closing it again if the first connection fails. */
export async function connectOrClose<T extends { connect(): Promise<void>; close(): Promise<void> }>(component: T): Promise<T> {
  try {
    await component.connect();
  } catch (err) {
    await component.close();
    throw err;
  }
  return component;
}

/**
 * Run `send` with the connection's socket corked, so the commands it issues leave in one write.
 * Used instead of an ioredis pipeline on per-message paths: a pipeline object kept waiting for its
 * replies outlives young-generation collections (docs/benchmarks.md). Before the connection is
 * ready, commands queue in order and go out on connect.
 */
export function inOneWrite<T>(redis: Redis, send: () => T): T {
  const stream = redis.status === 'ready' ? redis.stream : null;
  stream?.cork();
  try {
    return send();
  } finally {
    stream?.uncork();
  }
}
