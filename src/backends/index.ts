/**
 * `createResultBackend(url)`: pick the result store from the URL scheme. Configuration errors are
 * thrown here, before anything is opened.
 */
import { ConfigurationError } from '../errors.js';
import { redactUrl, urlScheme } from '../utils/url.js';
import type { ResultCodec } from './keyvalue.js';
import { createMemoryBackend, MEMORY_BACKEND_SCHEMES } from './memory/index.js';
import { createRedisBackend, REDIS_BACKEND_SCHEMES } from './redis/index.js';
import { createRpcBackend, RPC_BACKEND_SCHEMES } from './rpc/index.js';
import { createSqliteBackend, SQLITE_BACKEND_SCHEMES } from './sqlite/index.js';
import type { ResultBackend } from './types.js';

export {
  KeyValueResultBackend,
  KeyListeners,
  taskKey,
  groupKey,
  JSON_CODEC,
  type KeyValueStore,
  type KeyValueBackendOptions,
  type ResultCodec,
} from './keyvalue.js';
export { createMemoryBackend, resetMemoryBackend, MemoryKeyValueStore } from './memory/index.js';
export { createSqliteBackend, SqliteKeyValueStore } from './sqlite/index.js';
export { createRedisBackend, RedisResultBackend, RedisKeyValueStore } from './redis/index.js';
export { RpcResultBackend, type RpcBackendOptions } from './rpc/index.js';

export interface ResultBackendOptions {
  /** Seconds results are kept (`result_expires`); null keeps them forever. Default 1 day. */
  resultExpires?: number | null;
  codec?: ResultCodec;
  /** For backends that ride on the broker (rpc://): the app's broker URL and transport options. */
  broker?: { url: string; transportOptions?: Record<string, unknown> };
  /** For reply-queue backends (rpc://): the queue this process receives results on, the app's oid. */
  replyTo?: string;
  /** Anything else is a transport option of the chosen store (e.g. `pollingInterval` for SQLite). */
  [option: string]: unknown;
}

type BackendFactory = (url: string, options: ResultBackendOptions) => ResultBackend;

const FACTORIES: Record<string, BackendFactory> = {
  ...Object.fromEntries(MEMORY_BACKEND_SCHEMES.map((scheme) => [scheme, createMemoryBackend])),
  ...Object.fromEntries(SQLITE_BACKEND_SCHEMES.map((scheme) => [scheme, createSqliteBackend])),
  ...Object.fromEntries(REDIS_BACKEND_SCHEMES.map((scheme) => [scheme, createRedisBackend])),
  ...Object.fromEntries(RPC_BACKEND_SCHEMES.map((scheme) => [scheme, createRpcBackend])),
};

/** Backends that receive results on this process's reply queue, which must exist before a task is sent. */
export function backendUsesReplyQueue(url: string | null): boolean {
  const scheme = url ? urlScheme(url) : null;
  return scheme !== null && (RPC_BACKEND_SCHEMES as readonly string[]).includes(scheme);
}

export const SUPPORTED_BACKEND_SCHEMES: readonly string[] = Object.keys(FACTORIES);

export function createResultBackend(url: string, options: ResultBackendOptions = {}): ResultBackend {
  const scheme = urlScheme(url);
  const factory = scheme ? FACTORIES[scheme] : undefined;
  if (!factory) {
    const supported = SUPPORTED_BACKEND_SCHEMES.map((s) => `${s}://`).join(', ');
    throw new ConfigurationError('result_backend', `unsupported result backend URL ${redactUrl(url)}; supported schemes: ${supported}`);
  }
  return factory(url, options);
}
