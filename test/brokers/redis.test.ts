import { randomUUID } from 'node:crypto';
import { createBroker } from '../../src/brokers/index.js';
import { brokerConformance } from '../conformance/broker.suite.js';

// Every suite run gets its own key prefix, so the shared `unacked` keys of parallel runs never mix.
export const REDIS_URL = process.env.CELERIAC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const prefix = `conformance-${randomUUID().slice(0, 8)}:`;

brokerConformance('redis', async (transportOptions, logger) => {
  const broker = createBroker(REDIS_URL, { globalKeyprefix: prefix, ...transportOptions }, logger);
  await broker.connect();
  return broker;
});
