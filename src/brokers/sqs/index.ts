/**
 * `sqs://`: the Amazon SQS broker on @aws-sdk/client-sqs, in kombu's SQS layout, as a `ChannelOps`
 * under the shared `VirtualBroker`. Options take Celery's names in camelCase or snake_case and fail
 * here, named, before anything is opened. See docs/sqs.md.
 */
import type { SQSClientConfig } from '@aws-sdk/client-sqs';
import type { Broker } from '../types.js';
import type { BrokerLogger } from '../virtual/options.js';
import { VirtualBroker } from '../virtual/virtual-broker.js';
import { parseSqsOptions } from './options.js';

export { parseSqsOptions, parseSqsUrl, type SqsOptions, type PredefinedQueue } from './options.js';
export { sqsQueueName } from './queue-name.js';
export { encodeSqsBody, decodeSqsBody } from './body.js';

export const SQS_BROKER_SCHEMES = ['sqs'] as const;

export function createSqsBroker(
  url: string,
  transportOptions?: Record<string, unknown>,
  logger?: BrokerLogger,
  /** Extra AWS SDK client settings (middleware, HTTP handler); for tests and embedding. */
  clientConfig?: Partial<SQSClientConfig>,
): Broker {
  const options = parseSqsOptions(url, transportOptions);
  return new VirtualBroker({
    transport: 'sqs',
    url: options.redactedUrl,
    logger,
    visibilityTimeout: options.visibilityTimeout,
    capabilities: {
      // ETA messages are sent at once as kombu's are (a Python worker must see them); workers defer them.
      delayedDelivery: false,
      // Rejected messages go to the queue's own redrive dead-letter queue, if it has one.
      deadLetter: false,
      priorities: false,
      fanout: false,
    },
    // One long poll lasts waitTimeSeconds; with long polling off, pollingInterval paces the polls.
    reserveWaitMs: (options.waitTimeSeconds > 0 ? options.waitTimeSeconds : options.pollingInterval) * 1000,
    // SQS hands out at most 10 per receive; a larger batch only means more receives per reserve.
    unlimitedBatch: 10,
    // The AWS SDK is loaded only by a process that uses SQS: it costs megabytes of heap.
    open: async () => {
      const [{ SqsChannel }, { SqsQueues }] = await Promise.all([import('./sqs-channel.js'), import('./queues.js')]);
      return new SqsChannel(new SqsQueues(options, clientConfig), options, logger);
    },
  });
}
