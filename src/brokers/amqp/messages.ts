/**
 * `TransportMessage` ⇄ AMQP basic properties, as kombu's pyamqp transport maps them: the body goes
 * as is (no JSON envelope on AMQP), `content_type`/`content_encoding` and Celery's task headers become
 * the basic properties and `application_headers`, and the rest of `properties` (correlation_id,
 * reply_to, delivery_mode, priority, expiration, …) become the matching basic properties.
 */
import type { ConsumeMessage, GetMessage, Options } from 'amqplib';
import type { MessageProperties, TransportMessage } from '../../protocol/types.js';

/** AMQP basic properties by kombu's (snake_case) name → amqplib's name. */
const PROPERTY_NAMES: Record<string, keyof Options.Publish> = {
  correlation_id: 'correlationId',
  reply_to: 'replyTo',
  delivery_mode: 'deliveryMode',
  priority: 'priority',
  expiration: 'expiration',
  message_id: 'messageId',
  timestamp: 'timestamp',
  type: 'type',
  user_id: 'userId',
  app_id: 'appId',
};

export interface PublishSettings {
  /** 0..9 as the Broker interface defines; undefined leaves the property unset. */
  priority?: number;
  /** Drop the per-message TTL (a delayed message must not expire inside the delay queues). */
  withoutExpiration?: boolean;
}

export function publishOptions(message: TransportMessage, settings: PublishSettings = {}): Options.Publish {
  const out: Options.Publish = {
    contentType: message.contentType,
    contentEncoding: message.contentEncoding,
    headers: typedTable(message.headers),
  };
  const props = message.properties;
  for (const [name, value] of Object.entries(props)) {
    const key = PROPERTY_NAMES[name];
    if (!key || value === undefined || value === null || value === '') continue;
    (out as Record<string, unknown>)[key] = value;
  }
  if (settings.priority !== undefined) out.priority = settings.priority;
  if (out.expiration !== undefined) out.expiration = String(out.expiration);
  if (settings.withoutExpiration) delete out.expiration;
  // Celery's default: persistent messages (delivery_mode 2) unless the message says otherwise.
  out.deliveryMode ??= 2;
  return out;
}

/** The message as the rest of celeriac sees it; `redelivered` marks it the way kombu's restore does. */
export function transportMessage(msg: ConsumeMessage | GetMessage): TransportMessage {
  const p = msg.properties;
  const properties: MessageProperties = {};
  const set = (name: string, value: unknown): void => {
    if (value !== undefined && value !== null) properties[name] = value;
  };
  set('correlation_id', p.correlationId);
  set('reply_to', p.replyTo);
  set('delivery_mode', p.deliveryMode);
  set('priority', p.priority);
  set('expiration', p.expiration);
  set('message_id', p.messageId);
  set('timestamp', p.timestamp);
  set('type', p.type);
  set('user_id', p.userId);
  set('app_id', p.appId);
  const headers: Record<string, unknown> = { ...(p.headers ?? {}) };
  if (msg.fields.redelivered) headers.redelivered = true;
  return {
    body: msg.content,
    contentType: typeof p.contentType === 'string' ? p.contentType : 'application/octet-stream',
    contentEncoding: typeof p.contentEncoding === 'string' ? p.contentEncoding : 'binary',
    headers,
    properties,
  };
}

/**
 * amqplib guesses integer widths and writes small ones as signed bytes (`b`), which py-amqp reads as
 * unsigned: -1 would arrive as 255. Integers are written as py-amqp writes them (`I`, or a 64-bit long).
 */
function typedTable(table: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(table)) out[key] = typedValue(value);
  return out;
}

function typedValue(value: unknown): unknown {
  if (typeof value === 'number' && Number.isInteger(value) && Math.abs(value) < 2 ** 53) {
    return value >= -2147483647 && value <= 2147483647 ? { '!': 'int', value } : { '!': 'long', value };
  }
  if (Array.isArray(value)) return value.map(typedValue);
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) return typedTable(value as Record<string, unknown>);
  return value;
}
