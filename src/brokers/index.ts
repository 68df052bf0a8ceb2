/**
 * `createBroker(url)`: pick the transport from the URL scheme. Configuration errors (unknown scheme,
 * bad path, bad transport option) are thrown here, before anything is opened.
 */
import { ConfigurationError } from '../errors.js';
import { redactUrl, urlScheme } from '../utils/url.js';
import { AMQP_BROKER_SCHEMES, createAmqpBroker } from './amqp/index.js';
import { createMemoryBroker } from './memory/index.js';
import { createRedisBroker, REDIS_BROKER_SCHEMES } from './redis/index.js';
import { createSqliteBroker, SQLITE_BROKER_SCHEMES } from './sqlite/index.js';
import { createSqsBroker, SQS_BROKER_SCHEMES } from './sqs/index.js';
import type { Broker } from './types.js';
import type { BrokerLogger } from './virtual/options.js';

export type { BrokerLogger } from './virtual/options.js';
export { VirtualBroker, type VirtualBrokerOptions } from './virtual/virtual-broker.js';
export { createMemoryBroker, resetMemoryBroker } from './memory/index.js';
export { createSqliteBroker } from './sqlite/index.js';
export { createRedisBroker } from './redis/index.js';
export { createSqsBroker } from './sqs/index.js';
export { createAmqpBroker, AmqpBroker } from './amqp/index.js';

type BrokerFactory = (url: string, transportOptions?: Record<string, unknown>, logger?: BrokerLogger) => Broker;

const FACTORIES: Record<string, BrokerFactory> = {
  memory: createMemoryBroker,
  ...Object.fromEntries(SQLITE_BROKER_SCHEMES.map((scheme) => [scheme, createSqliteBroker])),
  ...Object.fromEntries(REDIS_BROKER_SCHEMES.map((scheme) => [scheme, createRedisBroker])),
  ...Object.fromEntries(SQS_BROKER_SCHEMES.map((scheme) => [scheme, (url: string, options?: Record<string, unknown>, logger?: BrokerLogger) => createSqsBroker(url, options, logger)])),
  ...Object.fromEntries(AMQP_BROKER_SCHEMES.map((scheme) => [scheme, createAmqpBroker])),
};

export const SUPPORTED_BROKER_SCHEMES: readonly string[] = Object.keys(FACTORIES);

export function createBroker(url: string, transportOptions?: Record<string, unknown>, hooks?: BrokerLogger): Broker {
  const scheme = urlScheme(url);
  const factory = scheme ? FACTORIES[scheme] : undefined;
  if (!factory) {
    const supported = SUPPORTED_BROKER_SCHEMES.map((s) => `${s}://`).join(', ');
    throw new ConfigurationError('broker_url', `unsupported broker URL ${redactUrl(url)}; supported schemes: ${supported}`);
  }
  return factory(url, transportOptions, hooks);
}
