/**
 * The fauxqs SQS emulator for tests, bound to 127.0.0.1 only (`startFauxqs` listens on every
 * interface, so its Fastify app is started here instead). It records every SQS action it answers,
 * so tests can check which calls a broker made (e.g. no CreateQueue with predefined queues).
 */
import { buildApp } from 'fauxqs';

export interface EmulatorAction {
  action: string;
  queueUrl?: string;
  /** The request body's VisibilityTimeout (ChangeMessageVisibility, ReceiveMessage). */
  visibilityTimeout?: number;
  /** The access key id the request was signed with. */
  accessKeyId?: string;
  at: number;
}

export interface SqsEmulator {
  endpoint: string;
  port: number;
  /** Every SQS action received so far, e.g. `ReceiveMessage`, with what tests look at. */
  readonly actions: EmulatorAction[];
  stop(): Promise<void>;
}

export async function startSqsEmulator(): Promise<SqsEmulator> {
  const app = buildApp({ logger: false });
  const actions: SqsEmulator['actions'] = [];
  app.addHook('preHandler', async (request) => {
    const target = request.headers['x-amz-target'];
    if (typeof target !== 'string' || !target.startsWith('AmazonSQS.')) return;
    const body = request.body as { QueueUrl?: string; VisibilityTimeout?: number } | undefined;
    const auth = request.headers.authorization;
    const accessKeyId = typeof auth === 'string' ? /Credential=([^/]+)\//.exec(auth)?.[1] : undefined;
    actions.push({ action: target.slice('AmazonSQS.'.length), queueUrl: body?.QueueUrl, visibilityTimeout: body?.VisibilityTimeout, accessKeyId, at: Date.now() });
  });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const port = Number(new URL(address).port);
  return { endpoint: `http://127.0.0.1:${port}`, port, actions, stop: () => app.close() };
}
