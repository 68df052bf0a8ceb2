/**
 * `memory://` and `memory://<name>`: the in-process broker. Brokers with the same name share queues.
 */
import { ConfigurationError } from '../../errors.js';
import { redactUrl, urlScheme } from '../../utils/url.js';
import type { Broker } from '../types.js';
import { readSeconds, type BrokerLogger } from '../virtual/options.js';
import { VirtualBroker } from '../virtual/virtual-broker.js';
import { MemoryChannel } from './memory-channel.js';

export { MemoryChannel, resetMemoryBroker, type MemoryChannelOptions } from './memory-channel.js';

/** The registry name of a `memory://name` URL (`''` for plain `memory://`). */
export function memoryBrokerName(url: string): string {
  const m = /^memory:\/\/([^?#]*)/i.exec(url);
  if (!m || urlScheme(url) !== 'memory') {
    throw new ConfigurationError('broker_url', `expected memory:// or memory://<name>, got ${redactUrl(url)}`);
  }
  return decodeURIComponent((m[1] as string).replace(/^\/+|\/+$/g, ''));
}

export function createMemoryBroker(url: string, transportOptions?: Record<string, unknown>, logger?: BrokerLogger): Broker {
  const name = memoryBrokerName(url);
  const visibilityTimeout = readSeconds(transportOptions, 'broker_transport_options', {
    name: 'visibilityTimeout',
    default: 3600, // kombu's default
    min: 0,
    exclusiveMin: true,
  });
  return new VirtualBroker({
    transport: 'memory',
    url,
    visibilityTimeout,
    logger,
    // Puts and deadlines wake a waiting reserve directly, so there is no reason to re-arm it often.
    reserveWaitMs: 3_600_000,
    open: () => new MemoryChannel({ name, visibilityTimeout, logger }),
  });
}
