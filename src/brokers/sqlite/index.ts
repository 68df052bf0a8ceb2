/**
 * `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` (and kombu's `sqla+sqlite://` spelling):
 * the embedded default broker. Any number of processes on one machine may share the file.
 */
import type { Broker } from '../types.js';
import { readSeconds, type BrokerLogger } from '../virtual/options.js';
import { VirtualBroker } from '../virtual/virtual-broker.js';
import { sqlitePathFromUrl } from './database.js';
import { SqliteChannel, type SqliteChannelOptions } from './sqlite-channel.js';

export { SqliteChannel, type SqliteChannelOptions } from './sqlite-channel.js';

export const SQLITE_BROKER_SCHEMES = ['sqlite', 'sqla+sqlite'] as const;

/** Validate the URL and transport options (throwing `ConfigurationError`) without opening anything. */
export function sqliteChannelOptions(
  url: string,
  transportOptions?: Record<string, unknown>,
  logger?: BrokerLogger,
): SqliteChannelOptions {
  const setting = 'broker_transport_options';
  return {
    file: sqlitePathFromUrl(url, 'broker_url', SQLITE_BROKER_SCHEMES),
    // Short on purpose: workers extend what they still hold, so this only bounds crash recovery.
    visibilityTimeout: readSeconds(transportOptions, setting, { name: 'visibilityTimeout', default: 60, min: 0, exclusiveMin: true }),
    pollingInterval: readSeconds(transportOptions, setting, {
      name: 'pollingInterval',
      default: 0.1,
      min: 0.001,
      max: 60,
    }),
    logger,
  };
}

export function createSqliteBroker(url: string, transportOptions?: Record<string, unknown>, logger?: BrokerLogger): Broker {
  const options = sqliteChannelOptions(url, transportOptions, logger);
  return new VirtualBroker({ transport: 'sqlite', url, logger, visibilityTimeout: options.visibilityTimeout, open: () => new SqliteChannel(options) });
}
