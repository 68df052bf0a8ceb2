/**
 * `amqp://`, `amqps://`, `pyamqp://`: the RabbitMQ broker. URL and transport options are validated
 * here, before anything is opened.
 */
import type { Broker } from '../types.js';
import type { BrokerLogger } from '../virtual/options.js';
import { AmqpBroker } from './amqp-broker.js';
import { readAmqpOptions } from './options.js';

export { AmqpBroker } from './amqp-broker.js';
export { confirmPublish, PublisherChannel } from './publisher.js';
export { AmqpConnection } from './connection.js';
export { readAmqpOptions, type AmqpOptions, type QueueSettings, type QueueType } from './options.js';
export { parseAmqpUrls, AMQP_SCHEMES, type AmqpEndpoint } from './url.js';
export { delayedRoutingKey, delayedLevelName, delayedDeliveryExchange, deadLetterQueueName } from './topology.js';
export { transportMessage, publishOptions } from './messages.js';

export const AMQP_BROKER_SCHEMES = ['amqp', 'amqps', 'pyamqp'] as const;

export function createAmqpBroker(url: string, transportOptions?: Record<string, unknown>, logger?: BrokerLogger): Broker {
  return new AmqpBroker(readAmqpOptions(url, transportOptions, logger));
}
