/** Types and helpers shared by the two halves of the broker conformance suite. */
import type { Broker, Delivery, Subscription } from '../../src/brokers/types.js';
import type { BrokerLogger } from '../../src/brokers/virtual/options.js';
import type { TransportMessage } from '../../src/protocol/types.js';

export type MakeBroker = (transportOptions?: Record<string, unknown>, logger?: BrokerLogger) => Promise<Broker>;

export interface BrokerConformanceOptions {
  /** Transport options giving a visibility timeout of `seconds` (default `{visibilityTimeout: seconds}`). */
  visibilityOptions?: (seconds: number) => Record<string, unknown>;
}

export interface SuiteContext {
  make: MakeBroker;
  options: BrokerConformanceOptions;
  uid(prefix: string): string;
  logs: { warn: string[]; error: string[] };
  logger: BrokerLogger;
}

export function message(body: string | Buffer, extra: Partial<TransportMessage> = {}): TransportMessage {
  return {
    body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: {},
    properties: {},
    ...extra,
  };
}

/** Consume `queues`, recording deliveries (and acking them at once when `autoAck`). */
export async function collect(
  broker: Broker,
  queues: string[],
  prefetch: number,
  autoAck = false,
): Promise<{ got: Delivery[]; at: number[]; sub: Subscription; bodies(): string[] }> {
  const got: Delivery[] = [];
  const at: number[] = [];
  const sub = await broker.consume(
    queues,
    (d) => {
      got.push(d);
      at.push(Date.now());
      if (autoAck) void d.ack();
    },
    { prefetch },
  );
  return { got, at, sub, bodies: () => got.map((d) => d.message.body.toString('utf8')) };
}

