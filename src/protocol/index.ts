/** Celery's wire protocol: task messages, serializers, compression, envelopes and repr text. */
export type * from './types.js';
export { dumps, loads } from './pyjson.js';
export { encodeEnvelope, decodeEnvelope, markRedelivered, isRecord } from './envelope.js';
export type { EnvelopeRoute } from './envelope.js';
export {
  encode as encodeBody,
  decode as decodeBody,
  contentTypeFor,
  serializerNames,
  reviveKombuTypes,
  DEFAULT_ACCEPT,
} from './serializers.js';
export type { EncodedBody } from './serializers.js';
export { compress, decompress, compressionNames } from './compression.js';
export { pyRepr, argsRepr, kwargsRepr, saferepr, PyTuple, REPR_MAXSIZE } from './repr.js';
export {
  buildTaskMessage,
  decodeTaskMessage,
  signatureDict,
  anonNodename,
  formatIsoUtc,
  parseIsoDate,
  DEFAULT_LANG,
} from './message.js';
export type { BuildTaskOptions, SignatureFlags } from './message.js';
