/**
 * A fanout subscriber: an exclusive, auto-delete, server-named queue bound to the exchange, consumed
 * without acks (broadcasts are not stored), as kombu's pidbox and event receivers do. It is rebuilt on
 * every new connection, since an exclusive queue dies with its connection.
 */
import type { Channel, ChannelModel } from 'amqplib';
import type { TransportMessage } from '../../protocol/types.js';
import type { FanoutSubscription } from '../types.js';
import type { BrokerLogger } from '../virtual/options.js';
import { transportMessage } from './messages.js';

export class FanoutSubscriber implements FanoutSubscription {
  private channel: Channel | null = null;
  private active = true;

  constructor(
    readonly exchange: string,
    private readonly onMessage: (message: TransportMessage, routingKey: string) => void,
    private readonly logger: BrokerLogger | undefined,
    private readonly onCancelled: (sub: FanoutSubscriber) => void,
  ) {}

  async start(model: ChannelModel): Promise<void> {
    if (!this.active) return;
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => this.logger?.warn('amqp: fanout channel error', { err: err.message, exchange: this.exchange }));
    this.channel = ch;
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    // `#` also matches everything when the exchange turns out to be a topic exchange (Celery's `celeryev`).
    await ch.bindQueue(queue, this.exchange, '#');
    await ch.consume(
      queue,
      (msg) => {
        if (!msg) return;
        try {
          this.onMessage(transportMessage(msg), msg.fields.routingKey);
        } catch (err) {
          this.logger?.error('broker: fanout callback threw', { err, exchange: this.exchange });
        }
      },
      { noAck: true },
    );
  }

  async cancel(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    this.onCancelled(this);
    const ch = this.channel;
    this.channel = null;
    // Closing the channel deletes the auto-delete queue with it.
    await ch?.close().catch(() => undefined);
  }
}
