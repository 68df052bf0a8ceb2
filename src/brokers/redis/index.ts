/**
 * `redis://`, `rediss://`, `redis+socket://`, `sentinel://`: the Redis broker in kombu's layout.
 * Transport options take kombu's names in camelCase or snake_case; a bad one fails here, named.
 */
import { ConfigurationError } from '../../errors.js';
import type { Broker } from '../types.js';
import type { QueueOrderStrategy } from '../virtual/channel.js';
import { readOption, readSeconds, type BrokerLogger } from '../virtual/options.js';
import { VirtualBroker } from '../virtual/virtual-broker.js';
import { connectOrClose, parseRedisUrl } from './connection.js';
import { KOMBU_PRIORITY_STEPS, KOMBU_SEP, RedisLayout } from './layout.js';
import { RedisChannel, type RedisChannelOptions } from './redis-channel.js';

export { RedisChannel, type RedisChannelOptions } from './redis-channel.js';
export { RedisLayout, KOMBU_SEP, KOMBU_PRIORITY_STEPS } from './layout.js';

export const REDIS_BROKER_SCHEMES = ['redis', 'rediss', 'redis+socket', 'sentinel'] as const;

const SETTING = 'broker_transport_options';
const ORDER_STRATEGIES: readonly QueueOrderStrategy[] = ['round_robin', 'sorted', 'priority'];

/** Validate the URL and every transport option without opening anything. */
export function redisChannelOptions(
  url: string,
  transportOptions?: Record<string, unknown>,
  logger?: BrokerLogger,
): RedisChannelOptions {
  const opts = transportOptions;
  const connection = parseRedisUrl(url, opts, 'broker_url', SETTING);
  const layout = new RedisLayout({
    globalKeyprefix: readString(opts, 'globalKeyprefix', ''),
    sep: readString(opts, 'sep', KOMBU_SEP, true),
    prioritySteps: readSteps(opts),
    db: connection.db,
    fanoutPrefix: readBoolOrString(opts, 'fanoutPrefix', true),
    fanoutPatterns: readBoolOrString(opts, 'fanoutPatterns', true) !== false,
  });
  const order = readString(opts, 'queueOrderStrategy', 'round_robin');
  if (!(ORDER_STRATEGIES as readonly string[]).includes(order)) {
    throw new ConfigurationError(`${SETTING}.queueOrderStrategy`, `must be one of ${ORDER_STRATEGIES.join(', ')}, got ${JSON.stringify(order)}`);
  }
  const maxConnections = readOption(opts, 'maxConnections') ?? 10;
  if (typeof maxConnections !== 'number' || !Number.isInteger(maxConnections) || maxConnections < 3) {
    throw new ConfigurationError(`${SETTING}.maxConnections`, `must be an integer >= 3 (main, subscriber, one consumer), got ${JSON.stringify(maxConnections)}`);
  }
  const restoreLimit = readOption(opts, 'unackedRestoreLimit') ?? 1000;
  if (typeof restoreLimit !== 'number' || !Number.isInteger(restoreLimit) || restoreLimit < 1) {
    throw new ConfigurationError(`${SETTING}.unackedRestoreLimit`, `must be an integer >= 1, got ${JSON.stringify(restoreLimit)}`);
  }
  return {
    connection,
    layout,
    queueOrder: order as QueueOrderStrategy,
    visibilityTimeout: readSeconds(opts, SETTING, { name: 'visibilityTimeout', default: 3600, min: 0, exclusiveMin: true }),
    // Only bounds how long one BRPOP lasts: consumers are woken by messages, not by this.
    pollingInterval: readSeconds(opts, SETTING, { name: 'pollingInterval', default: 10, min: 0.01, max: 3600 }),
    maxConnections,
    healthCheckInterval: readSeconds(opts, SETTING, { name: 'healthCheckInterval', default: 25, min: 0 }),
    unackedRestoreInterval: readSeconds(opts, SETTING, { name: 'unackedRestoreInterval', default: 10, min: 0.05 }),
    unackedMutexExpire: readSeconds(opts, SETTING, { name: 'unackedMutexExpire', default: 300, min: 1 }),
    unackedRestoreLimit: restoreLimit,
    deadLetterKeep: 10_000,
    logger,
  };
}

export function createRedisBroker(url: string, transportOptions?: Record<string, unknown>, logger?: BrokerLogger): Broker {
  const options = redisChannelOptions(url, transportOptions, logger);
  return new VirtualBroker({
    transport: 'redis',
    url,
    logger,
    visibilityTimeout: options.visibilityTimeout,
    // ETA messages go on the list as kombu's do (a Python worker must see them); workers defer them.
    capabilities: { delayedDelivery: false },
    // BRPOP wakes on arrival; this only bounds one blocking call.
    reserveWaitMs: options.pollingInterval * 1000,
    open: () => connectOrClose(new RedisChannel(options)),
  });
}

function readString(opts: Record<string, unknown> | undefined, name: string, fallback: string, nonEmpty = false): string {
  const value = readOption(opts, name);
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || (nonEmpty && !value)) {
    throw new ConfigurationError(`${SETTING}.${name}`, `expected a${nonEmpty ? ' non-empty' : ''} string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function readBoolOrString(opts: Record<string, unknown> | undefined, name: string, fallback: boolean | string): boolean | string {
  const value = readOption(opts, name);
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean' && typeof value !== 'string') {
    throw new ConfigurationError(`${SETTING}.${name}`, `expected true, false or a string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function readSteps(opts: Record<string, unknown> | undefined): number[] {
  const value = readOption(opts, 'prioritySteps');
  if (value === undefined || value === null) return [...KOMBU_PRIORITY_STEPS];
  const ok =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((n, i) => Number.isInteger(n) && n >= 0 && n <= 9 && (i === 0 || n > (value[i - 1] as number)));
  if (!ok) throw new ConfigurationError(`${SETTING}.prioritySteps`, `expected ascending integers 0..9, got ${JSON.stringify(value)}`);
  return value as number[];
}
