import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createBroker } from '../../src/brokers/index.js';
import { resetMemoryBroker } from '../../src/brokers/memory/index.js';
import { ConfigurationError } from '../../src/errors.js';
import { brokerConformance } from '../conformance/broker.suite.js';

const name = `conformance-${randomUUID()}`;

brokerConformance('memory', async (transportOptions, logger) => {
  const broker = createBroker(`memory://${name}`, transportOptions, logger);
  await broker.connect();
  return broker;
});

describe('memory broker', () => {
  it('keeps brokers with different names apart and shares state by name', async () => {
    const [a, b, a2] = [createBroker('memory://iso-a'), createBroker('memory://iso-b'), createBroker('memory://iso-a')];
    await a.publish({ body: Buffer.from('x'), contentType: 'text/plain', contentEncoding: 'utf-8', headers: {}, properties: {} }, {
      exchange: '',
      routingKey: 'q',
    });
    expect(await b.queueSize('q')).toBe(0);
    expect(await a2.queueSize('q')).toBe(1);
    resetMemoryBroker('iso-a');
    expect(await createBroker('memory://iso-a').queueSize('q')).toBe(0);
    await Promise.all([a.close(), b.close(), a2.close()]);
  });

  it('validates transport options', () => {
    expect(() => createBroker('memory://', { visibilityTimeout: 'soon' })).toThrow(ConfigurationError);
    expect(() => createBroker('memory://', { visibility_timeout: -1 })).toThrow(/visibility_timeout/);
  });

  it('redacts the URL', () => {
    expect(createBroker('memory://').url).toBe('memory://');
    expect(createBroker('memory://x').transport).toBe('memory');
  });
});
