/**
 * `stsRoleArn`: every SQS call is signed with the assumed role's temporary credentials, which are
 * renewed before they expire. STS is a local endpoint speaking the SDK's protocol; SQS is fauxqs.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBroker } from '../../src/brokers/index.js';
import { collect, message } from '../conformance/broker-helpers.js';
import { uniqueName } from '../helpers/python.js';
import { startSqsEmulator, type SqsEmulator } from '../helpers/sqs-emulator.js';
import { startStsEndpoint, type StsEndpoint } from '../helpers/sts-endpoint.js';
import { waitFor } from '../helpers/wait.js';

const ROLE = 'arn:aws:iam::123456789012:role/celeriac-worker';
let sqs: SqsEmulator;
let sts: StsEndpoint;
const previousEndpoint = process.env.AWS_ENDPOINT_URL_STS;

beforeAll(async () => {
  sqs = await startSqsEmulator();
  sts = await startStsEndpoint();
  process.env.AWS_ENDPOINT_URL_STS = sts.endpoint;
});
afterAll(async () => {
  if (previousEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_STS;
  else process.env.AWS_ENDPOINT_URL_STS = previousEndpoint;
  await sts?.stop();
  await sqs?.stop();
});

it('signs SQS calls with the assumed role, assumed with the URL credentials, and renews before expiry', async () => {
  // Credentials that expire 5 min + 2 s from issue are due for renewal two seconds later.
  sts.lifetimeSeconds = 302;
  const broker = createBroker('sqs://BASEKEY:base%2Fsecret@', { endpointUrl: sqs.endpoint, waitTimeSeconds: 1, stsRoleArn: ROLE, stsTokenTimeout: 1200 });
  await broker.connect();
  try {
    const queue = uniqueName('sts');
    await broker.declareQueue({ name: queue });
    await broker.publish(message('first'), { exchange: '', routingKey: queue });
    expect(sts.calls[0]).toMatchObject({ roleArn: ROLE, durationSeconds: 1200, signedWith: 'BASEKEY', issued: 'ASIAROLE1' });
    const signers = () => new Set(sqs.actions.map((a) => a.accessKeyId));
    expect(signers()).toEqual(new Set(['ASIAROLE1']));

    const received = await collect(broker, [queue], 10, true);
    await waitFor(() => received.got.length === 1, 10_000, 'the message consumed');
    await waitFor(
      async () => {
        await broker.queueSize(queue);
        return signers().has('ASIAROLE2');
      },
      15_000,
      'SQS calls signed with renewed credentials',
    );
    expect(sts.calls.length).toBeGreaterThanOrEqual(2);
    expect(signers().has('BASEKEY')).toBe(false); // the base keys only ever signed the STS call
    await received.sub.cancel();
  } finally {
    await broker.close();
  }
});
