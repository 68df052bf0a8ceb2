/**
 * Remote-control ("pidbox") messages in Celery's format: a broadcast on the `celery.pidbox` fanout
 * exchange carrying `{method, arguments, destination, pattern, matcher}` (see the captured
 * `pidbox/*` fixtures), so Python's `celery control` and our workers understand each other.
 */
import { encode, decode } from '../protocol/serializers.js';
import type { TransportMessage } from '../protocol/types.js';

export const PIDBOX_EXCHANGE = 'celery.pidbox';

export interface ControlRequest {
  method: string;
  arguments: Record<string, unknown>;
  destination: string[] | null;
  pattern: string | null;
  matcher: string | null;
  ticket?: string;
  reply_to?: { exchange: string; routing_key: string };
}

let clock = 0;

export function buildControlMessage(request: ControlRequest, ttlSeconds = 1): TransportMessage {
  const { body, contentType, contentEncoding } = encode('json', request);
  return {
    body,
    contentType,
    contentEncoding,
    headers: { clock: ++clock, expires: Date.now() / 1000 + ttlSeconds },
    properties: { delivery_mode: 2, priority: 0 },
  };
}

/** Decode a pidbox message; returns null for anything that is not a control request. */
export function parseControlMessage(message: TransportMessage): ControlRequest | null {
  let value: unknown;
  try {
    value = decode(message.body, message.contentType, message.contentEncoding);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || typeof (value as ControlRequest).method !== 'string') return null;
  const expires = message.headers.expires;
  if (typeof expires === 'number' && expires * 1000 < Date.now()) return null;
  const req = value as ControlRequest;
  return { ...req, arguments: req.arguments ?? {} };
}
