/**
 * SQS clients and queue URLs: kombu's queue-name mangling, one client per credential set, the
 * queue URL cache, and queue creation. With `predefinedQueues` nothing is ever listed, created or
 * deleted: an undeclared queue is an error, as in kombu.
 */
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  PurgeQueueCommand,
  SQSClient,
  type SQSClientConfig,
} from '@aws-sdk/client-sqs';
import { BrokerConnectionError } from '../../errors.js';
import type { PredefinedQueue, SqsCredentials, SqsOptions } from './options.js';
import { sqsQueueName } from './queue-name.js';
import { assumeRoleProvider } from './sts.js';

export class UndefinedQueueError extends BrokerConnectionError {
  override name = 'UndefinedQueueError';
}

export interface ResolvedQueue {
  /** Logical (kombu) queue name. */
  queue: string;
  /** SQS queue name after prefix and mangling. */
  sqsName: string;
  url: string;
  client: SQSClient;
  fifo: boolean;
  predefined?: PredefinedQueue;
}

export class SqsQueues {
  private readonly defaultClient: SQSClient;
  private readonly clients: SQSClient[] = [];
  private readonly perQueueClients = new Map<string, SQSClient>();
  private readonly urls = new Map<string, string>();
  private readonly redrive = new Map<string, Promise<boolean>>();

  constructor(
    private readonly options: SqsOptions,
    /** Extra client settings (tests add middleware through this). */
    private readonly clientConfig: Partial<SQSClientConfig> = {},
  ) {
    if (options.sts) {
      this.roleCredentials = assumeRoleProvider({ roleArn: options.sts.roleArn, durationSeconds: options.sts.tokenTimeout, region: options.region, baseCredentials: options.credentials });
    }
    this.defaultClient = this.newClient(options.credentials, options.region);
  }

  /** With `stsRoleArn`, every client signs with the assumed role's credentials, renewed before expiry. */
  private readonly roleCredentials: ReturnType<typeof assumeRoleProvider> | null = null;

  get predefined(): boolean {
    return this.options.predefinedQueues.size > 0;
  }

  /** Every client, for closing and for tests that count requests. */
  get allClients(): readonly SQSClient[] {
    return this.clients;
  }

  sqsName(queue: string): string {
    return sqsQueueName(this.options.queueNamePrefix + queue);
  }

  /** The queue's URL and client; creates the queue unless `create` is false or queues are predefined. */
  async resolve(queue: string, create = true): Promise<ResolvedQueue | null> {
    const sqsName = this.sqsName(queue);
    const fifo = sqsName.endsWith('.fifo');
    if (this.predefined) {
      const predefined = this.options.predefinedQueues.get(sqsName);
      if (!predefined) {
        throw new UndefinedQueueError(`queue ${JSON.stringify(sqsName)} must be defined in broker_transport_options.predefinedQueues`);
      }
      return { queue, sqsName, url: predefined.url, client: this.clientFor(sqsName, predefined), fifo, predefined };
    }
    let url = this.urls.get(sqsName);
    if (!url) {
      url = (await this.lookup(sqsName)) ?? (create ? await this.create(sqsName, fifo) : undefined);
      if (!url) return null;
      this.urls.set(sqsName, url);
    }
    return { queue, sqsName, url, client: this.defaultClient, fifo };
  }

  /** Forget a cached URL (the queue was deleted behind our back). */
  forget(queue: string): void {
    this.urls.delete(this.sqsName(queue));
  }

  async approximateSize(queue: string): Promise<number> {
    const q = await this.resolve(queue, false);
    if (!q) return 0;
    const out = await q.client.send(new GetQueueAttributesCommand({ QueueUrl: q.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
    return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
  }

  /** Remove every message; returns how many were ready. PurgeQueue is skipped when there are none. */
  async purge(queue: string): Promise<number> {
    const q = await this.resolve(queue, false);
    if (!q) return 0;
    const size = await this.approximateSize(queue);
    // Real SQS allows one PurgeQueue per 60 s per queue, so an empty queue is not purged again.
    if (size > 0) await q.client.send(new PurgeQueueCommand({ QueueUrl: q.url }));
    return size;
  }

  /** Whether SQS moves this queue's repeatedly received messages to a dead-letter queue. */
  hasRedrivePolicy(q: ResolvedQueue): Promise<boolean> {
    let known = this.redrive.get(q.url);
    if (!known) {
      known = q.client
        .send(new GetQueueAttributesCommand({ QueueUrl: q.url, AttributeNames: ['RedrivePolicy'] }))
        .then((out) => Boolean(out.Attributes?.RedrivePolicy));
      known.catch(() => this.redrive.delete(q.url));
      this.redrive.set(q.url, known);
    }
    return known;
  }

  close(): void {
    for (const client of this.clients) client.destroy();
    this.roleCredentials?.close();
  }

  private clientFor(sqsName: string, predefined: PredefinedQueue): SQSClient {
    if (!predefined.credentials && !predefined.region) return this.defaultClient;
    let client = this.perQueueClients.get(sqsName);
    if (!client) {
      client = this.newClient(predefined.credentials ?? this.options.credentials, predefined.region ?? this.options.region);
      this.perQueueClients.set(sqsName, client);
    }
    return client;
  }

  private newClient(credentials: SqsCredentials | undefined, region: string): SQSClient {
    const config: SQSClientConfig = {
      region,
      // A long poll lasts at most 20 s: a request silent for a minute is a dead connection, not a wait.
      requestHandler: { requestTimeout: 60_000, connectionTimeout: 10_000 },
      ...this.clientConfig,
    };
    // No credentials given: the SDK's default chain (env, shared files, web identity, instance role).
    if (this.roleCredentials) config.credentials = this.roleCredentials.provider;
    else if (credentials) config.credentials = { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey };
    // With an explicit endpoint the SDK sends every call there, not to the host in a queue's URL.
    if (this.options.endpointUrl) config.endpoint = this.options.endpointUrl;
    const client = new SQSClient(config);
    this.clients.push(client);
    return client;
  }

  private async lookup(sqsName: string): Promise<string | undefined> {
    try {
      const out = await this.defaultClient.send(new GetQueueUrlCommand({ QueueName: sqsName }));
      return out.QueueUrl;
    } catch (err) {
      if (isQueueMissing(err)) return undefined;
      throw err;
    }
  }

  private async create(sqsName: string, fifo: boolean): Promise<string> {
    const attributes: Record<string, string> = { VisibilityTimeout: String(this.options.visibilityTimeout), ...this.options.creationAttributes };
    if (fifo) attributes.FifoQueue = 'true';
    const out = await this.defaultClient.send(new CreateQueueCommand({ QueueName: sqsName, Attributes: attributes }));
    if (!out.QueueUrl) throw new BrokerConnectionError(`CreateQueue for ${sqsName} returned no QueueUrl`);
    return out.QueueUrl;
  }
}

export function errorName(err: unknown): string {
  return typeof err === 'object' && err !== null && 'name' in err ? String((err as { name: unknown }).name) : '';
}

export function isQueueMissing(err: unknown): boolean {
  const name = errorName(err);
  return name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue';
}
