/**
 * Test helpers for the real RabbitMQ at 127.0.0.1:5672: brokers whose every declared queue and exchange
 * is deleted afterwards, and closing a test's own connections (found by connection name) with
 * `rabbitmqctl`, to exercise recovery without restarting the shared server.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { createAmqpBroker, type AmqpBroker } from '../../src/brokers/amqp/index.js';
import type { BrokerLogger } from '../../src/brokers/virtual/options.js';

export const AMQP_URL = process.env.CELERIAC_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//';

const run = promisify(execFile);

/** Creates brokers and remembers every queue and exchange they declared, for `cleanup()`. */
export class AmqpTestBrokers {
  readonly runId = randomUUID().slice(0, 8);
  readonly connectionName = `celeriac-test-${this.runId}`;
  private readonly made: AmqpBroker[] = [];
  private readonly extraQueues = new Set<string>();
  private readonly extraExchanges = new Set<string>();

  async make(transportOptions: Record<string, unknown> = {}, logger?: BrokerLogger): Promise<AmqpBroker> {
    const broker = createAmqpBroker(AMQP_URL, { connectionName: this.connectionName, reconnectInitial: 0.05, ...transportOptions }, logger) as AmqpBroker;
    this.made.push(broker);
    await broker.connect();
    return broker;
  }

  /** Names created outside a broker's topology (by Python, or the rpc backend) to delete too. */
  track(kind: 'queue' | 'exchange', name: string): void {
    (kind === 'queue' ? this.extraQueues : this.extraExchanges).add(name);
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.made.map((b) => b.close()));
    const queues = new Set(this.extraQueues);
    const exchanges = new Set(this.extraExchanges);
    for (const b of this.made) {
      for (const q of b.topology.queues.keys()) queues.add(q);
      for (const e of b.topology.exchanges.keys()) exchanges.add(e);
    }
    // Shared, long-lived entities (Celery's own names) stay: other runs and Python workers use them.
    for (const name of [...queues]) if (name === 'celery' || /celery_delayed_\d+$/.test(name)) queues.delete(name);
    for (const name of [...exchanges]) if (name === 'celery' || name === 'celeriac.dlx' || /celery_delayed_(\d+|delivery)$/.test(name)) exchanges.delete(name);
    const conn = await amqp.connect(AMQP_URL);
    try {
      for (const q of queues) await withCh(conn, (ch) => ch.deleteQueue(q));
      for (const e of exchanges) await withCh(conn, (ch) => ch.deleteExchange(e));
    } finally {
      await conn.close();
    }
    this.made.length = 0;
  }
}

async function withCh(conn: amqp.ChannelModel, op: (ch: amqp.Channel) => Promise<unknown>): Promise<void> {
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  try {
    await op(ch);
  } catch {
    // already gone
  } finally {
    await ch.close().catch(() => undefined);
  }
}

/** Close every RabbitMQ connection whose `connection_name` is `name`; returns how many were closed. */
export async function closeConnectionsNamed(name: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties'], { timeout: 30_000 });
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(`"${name}"`) || line.includes(`<<"${name}">>`))
    .map((line) => line.split('\t')[0]?.trim())
    .filter((pid): pid is string => Boolean(pid));
  for (const pid of pids) await run('rabbitmqctl', ['-q', 'close_connection', pid, 'celeriac test: forced close'], { timeout: 30_000 });
  return pids.length;
}
