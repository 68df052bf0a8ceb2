/**
 * The SQS MessageBody exactly as kombu's SQS transport writes and reads it
 * (`kombu/transport/SQS.py::_put` and `_message_to_python`, kombu 5.2.4):
 * - the usual virtual-transport JSON envelope, whose `body` is already base64 (`body_encoding`);
 * - with `sqs_base64_encoding` (the default) that whole envelope base64-encoded again: "double base64";
 * - on receipt the body is base64-decoded only when it round-trips exactly, so plain JSON bodies
 *   (`sqs_base64_encoding=False`, or other producers) are read too.
 */
import { encodeEnvelope, type EnvelopeRoute } from '../../protocol/envelope.js';
import type { TransportMessage } from '../../protocol/types.js';

export function encodeSqsBody(message: TransportMessage, route: EnvelopeRoute, base64: boolean): string {
  const envelope = encodeEnvelope(message, route);
  return base64 ? Buffer.from(envelope, 'utf8').toString('base64') : envelope;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** kombu's `_optional_b64_decode`: decode when `b64encode(b64decode(x)) == x`, else keep the text. */
export function decodeSqsBody(body: string): string {
  if (!BASE64.test(body)) return body;
  const bytes = Buffer.from(body, 'base64');
  if (bytes.toString('base64') !== body) return body;
  return bytes.toString('utf8');
}
