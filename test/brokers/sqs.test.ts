import { afterAll, beforeAll } from 'vitest';
import { createBroker } from '../../src/brokers/index.js';
import { brokerConformance } from '../conformance/broker.suite.js';
import { startSqsEmulator, type SqsEmulator } from '../helpers/sqs-emulator.js';

let emulator: SqsEmulator;
beforeAll(async () => {
  emulator = await startSqsEmulator();
});
afterAll(async () => {
  await emulator?.stop();
});

brokerConformance(
  'sqs',
  async (transportOptions, logger) => {
    // Short long polls keep close() quick: it waits for the polls in flight (see receive.ts).
    const broker = createBroker('sqs://test-key:test%2Fsecret%2B@', { endpointUrl: emulator.endpoint, waitTimeSeconds: 1, ...transportOptions }, logger);
    await broker.connect();
    return broker;
  },
  // SQS visibility is whole seconds.
  { visibilityOptions: (seconds) => ({ visibilityTimeout: Math.max(1, Math.ceil(seconds)) }) },
);
