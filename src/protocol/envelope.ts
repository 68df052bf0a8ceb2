/**
 * kombu's JSON envelope for virtual transports (Redis, SQS, and our SQLite and memory brokers):
 * `{"body": <base64>, "content-encoding", "content-type", "headers", "properties"}`, with
 * `properties.body_encoding = "base64"`, a `delivery_tag` and `delivery_info` added on publish
 * (`kombu/transport/virtual/base.py::_inplace_augment_message`).
 */
import { MalformedMessageError } from '../errors.js';
import { uuid4 } from '../utils/uuid.js';
import { dumps, dumpsMerged, loads } from './pyjson.js';
import type { MessageProperties, TransportMessage } from './types.js';

export interface EnvelopeRoute {
  exchange: string;
  routingKey: string;
  priority?: number;
}

/** Serialize a message for a virtual transport, adding what kombu adds at publish time. */
export function encodeEnvelope(message: TransportMessage, route: EnvelopeRoute): string {
  // kombu passes priority to the channel separately and `prepare_message` adds it after
  // delivery_info, so it is moved there to keep Celery's key order.
  const added = {
    delivery_info: { exchange: route.exchange, routing_key: route.routingKey },
    priority: route.priority ?? message.properties.priority ?? 0,
    body_encoding: 'base64',
    delivery_tag: uuid4(),
  };
  // Written as dumps() would write the envelope object, piece by piece (base64 needs no escaping).
  let out = `{"body": "${message.body.toString('base64')}"`;
  if (message.contentEncoding !== undefined) out += `, "content-encoding": ${dumps(message.contentEncoding)}`;
  if (message.contentType !== undefined) out += `, "content-type": ${dumps(message.contentType)}`;
  if (message.headers !== undefined) out += `, "headers": ${dumps(message.headers)}`;
  return `${out}, "properties": ${dumpsMerged(message.properties, added, 'priority')}}`;
}

/** Parse an envelope back into a message. Throws `MalformedMessageError` naming what is wrong. */
export function decodeEnvelope(raw: string | Buffer): TransportMessage {
  let parsed: unknown;
  try {
    parsed = loads(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (err) {
    throw new MalformedMessageError(`envelope is not JSON: ${(err as Error).message}`);
  }
  if (!isRecord(parsed)) throw new MalformedMessageError('envelope is not a JSON object');
  const { body, headers, properties } = parsed;
  if (typeof body !== 'string') throw new MalformedMessageError('envelope has no string "body"');
  // Freshly parsed, so it is ours: no copy needed.
  const props: MessageProperties = isRecord(properties) ? properties : {};
  const encoding = props.body_encoding;
  let bytes: Buffer;
  if (encoding === 'base64') bytes = Buffer.from(body, 'base64');
  else if (encoding === undefined || encoding === null) bytes = Buffer.from(body, 'utf8');
  else throw new MalformedMessageError(`unknown body_encoding ${JSON.stringify(encoding)}`);
  return {
    body: bytes,
    contentType: typeof parsed['content-type'] === 'string' ? parsed['content-type'] : 'application/json',
    contentEncoding: typeof parsed['content-encoding'] === 'string' ? parsed['content-encoding'] : 'utf-8',
    headers: isRecord(headers) ? headers : {},
    properties: props,
  };
}

/** Mark a message as redelivered the way kombu's Redis restore does (header and delivery_info). */
export function markRedelivered(message: TransportMessage): TransportMessage {
  const info = isRecord(message.properties.delivery_info) ? message.properties.delivery_info : {};
  return {
    ...message,
    headers: { ...message.headers, redelivered: true },
    properties: { ...message.properties, delivery_info: { ...info, redelivered: true } },
  };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * kombu's `_do_restore_message` on a stored envelope (text, or already parsed): the same envelope with
 * `headers.redelivered` and `properties.delivery_info.redelivered` set, everything else kept
 * (except the delivery tag, when a new one is given).
 */
export function markEnvelopeRedelivered(payload: string | Record<string, unknown>, newDeliveryTag?: string): string {
  let parsed: unknown = payload;
  if (typeof payload === 'string') {
    try {
      parsed = loads(payload);
    } catch (err) {
      throw new MalformedMessageError(`envelope is not JSON: ${(err as Error).message}`);
    }
  }
  if (!isRecord(parsed)) throw new MalformedMessageError('envelope is not a JSON object');
  if (isRecord(parsed.headers)) parsed.headers.redelivered = true;
  const props = parsed.properties;
  if (isRecord(props) && isRecord(props.delivery_info)) props.delivery_info.redelivered = true;
  // A fresh tag lets a stale holder's late ack miss the new delivery instead of removing it.
  if (isRecord(props) && newDeliveryTag !== undefined) props.delivery_tag = newDeliveryTag;
  return dumps(parsed);
}
