/**
 * A separate process using the SQLite broker, for multi-process tests. Run with
 * `node --import tsx test/helpers/sqlite-broker-child.ts <mode> <url> <queue-or-exchange> [json options]`.
 * Reports on stdout one JSON object per line; the parent reads them with `lines()`.
 *
 * Modes:
 *   publish  — publish `count` messages `child-<i>`, print {event:'published'} and exit.
 *   hold     — consume with prefetch 1, print {event:'reserved', body} and never ack (parent SIGKILLs).
 *   consume  — consume and ack, printing {event:'got', body} per message, until stdin says "stop".
 *   fanout   — publish one fanout message `from-child` and exit.
 */
import { createBroker } from '../../src/brokers/index.js';
import type { TransportMessage } from '../../src/protocol/types.js';
import { message } from '../conformance/broker-helpers.js';

const [mode, url, name, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson ?? '{}') as { count?: number; prefetch?: number; transport?: Record<string, unknown> };
const say = (obj: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(obj)}\n`);
const text = (body: string): TransportMessage => message(body, { contentType: 'text/plain' });

async function main(): Promise<void> {
  if (!mode || !url || !name) throw new Error('usage: <mode> <url> <name> [options]');
  const broker = createBroker(url, options.transport, {
    warn: (msg) => say({ event: 'warn', msg }),
    error: (msg) => say({ event: 'error', msg }),
  });
  await broker.connect();
  switch (mode) {
    case 'publish':
      for (let i = 0; i < (options.count ?? 1); i++) {
        await broker.publish(text(`child-${i}`), { exchange: '', routingKey: name });
      }
      say({ event: 'published' });
      await broker.close();
      return;
    case 'fanout':
      await broker.publishFanout(name, 'from.child', text('from-child'));
      say({ event: 'published' });
      await broker.close();
      return;
    case 'hold':
      await broker.consume([name], (d) => say({ event: 'reserved', body: d.message.body.toString() }), { prefetch: 1 });
      say({ event: 'ready' });
      return; // keeps running until killed
    case 'consume': {
      await broker.consume(
        [name],
        (d) => {
          void d.ack().then(() => say({ event: 'got', body: d.message.body.toString(), redelivered: d.redelivered }));
        },
        { prefetch: options.prefetch ?? 10 },
      );
      say({ event: 'ready' });
      process.stdin.on('data', (chunk) => {
        if (chunk.toString().includes('stop')) void broker.close().then(() => say({ event: 'closed' }));
      });
      return;
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

main().catch((err: unknown) => {
  say({ event: 'fatal', error: String(err) });
  process.exit(1);
});
