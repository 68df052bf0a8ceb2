/**
 * The long-lived confirm channel used for publishing, one per connection, recreated after the
 * channel or the connection closes; and a confirmed publish on it. Shared by the broker and the
 * rpc:// result backend.
 */
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import { BrokerConnectionError } from '../../errors.js';
import type { BrokerLogger } from '../virtual/options.js';

export class PublisherChannel {
  private current: { model: ChannelModel; channel: Promise<ConfirmChannel> } | null = null;

  constructor(
    private readonly logger: BrokerLogger | undefined,
    /** Called for messages the broker returns as unroutable (`mandatory` publishes). */
    private readonly onReturn?: (exchange: string, routingKey: string) => void,
  ) {}

  /** Forget the channel of a dead connection. */
  reset(): void {
    this.current = null;
  }

  get(model: ChannelModel): Promise<ConfirmChannel> {
    if (this.current?.model === model) return this.current.channel;
    const channel = model.createConfirmChannel().then((ch) => {
      ch.on('error', (err: Error) => this.logger?.warn('amqp: publishing channel error', { err: err.message }));
      ch.on('close', () => {
        if (this.current?.channel === channel) this.current = null;
      });
      const onReturn = this.onReturn;
      if (onReturn) ch.on('return', (msg: { fields: { exchange: string; routingKey: string } }) => onReturn(msg.fields.exchange, msg.fields.routingKey));
      return ch;
    });
    channel.catch(() => {
      if (this.current?.channel === channel) this.current = null;
    });
    this.current = { model, channel };
    return channel;
  }
}

/** Publish and resolve once the broker has confirmed it (publisher confirms). */
export function confirmPublish(channel: ConfirmChannel, exchange: string, routingKey: string, body: Buffer, options: Options.Publish): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      channel.publish(exchange, routingKey, body, options, (err: unknown) =>
        err ? reject(new BrokerConnectionError(`amqp: publish not confirmed: ${String((err as Error)?.message ?? err)}`)) : resolve(),
      );
    } catch (err) {
      reject(err);
    }
  });
}
