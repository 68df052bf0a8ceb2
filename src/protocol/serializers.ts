/**
 * kombu's serializer registry (`kombu/serialization.py`): bodies are encoded by serializer name and
 * decoded by content type, and decoding refuses content types the consumer does not accept.
 */
import type * as Msgpackr from 'msgpackr';
import type * as Yaml from 'yaml';
import { lazyRequire } from '../utils/lazy-require.js';

const loadMsgpackr = lazyRequire<typeof Msgpackr>('msgpackr');
const loadYaml = lazyRequire<typeof Yaml>('yaml');
import { ContentDisallowedError, MalformedMessageError } from '../errors.js';
import { formatIsoUtc, parseIsoDate } from './dates.js';
import { dumps, loads } from './pyjson.js';

export interface EncodedBody {
  body: Buffer;
  contentType: string;
  contentEncoding: string;
}

interface Serializer {
  name: string;
  contentType: string;
  contentEncoding: string;
  encode(value: unknown): Buffer;
  decode(body: Buffer): unknown;
}

/** What decode accepts when the caller does not say: every serializer that cannot run code. */
export const DEFAULT_ACCEPT: readonly string[] = ['json', 'msgpack', 'yaml'];

/** kombu passes these through undecoded whatever `accept` says (`TRUSTED_CONTENT`). */
const TRUSTED_CONTENT = new Set(['application/data', 'application/text']);

const PICKLE_REFUSAL =
  'pickle (application/x-python-serialize) is refused: unpickling data from the network executes ' +
  "arbitrary code. Configure the sender to use json (Celery's default) or msgpack.";

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------
// json: Python json.dumps text plus kombu's {"__type__", "__value__"} wrappers for special types

function encodeJson(value: unknown): Buffer {
  return Buffer.from(dumps(needsJsonLeaves(value, 0) ? prepare(value, toJsonLeaf) : value), 'utf8');
}

/**
 * Whether `prepare` would change anything dumps() does not already write the same way: Dates,
 * bytes, Maps and Sets (and anything with toJSON) need it; plain data, the usual case, does not.
 */
function needsJsonLeaves(value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (depth > 32) return true; // deep (or cyclic): let prepare decide
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (needsJsonLeaves(value[i], depth + 1)) return true;
    return false;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return true;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return true;
  for (const key in value) {
    if (needsJsonLeaves((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

/** Dates as plain isoformat strings (kombu 5.2 style, readable by every kombu); bytes wrapped. */
function toJsonLeaf(value: unknown): unknown {
  if (value instanceof Date) return formatIsoUtc(value);
  if (ArrayBuffer.isView(value)) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    try {
      return { __type__: 'bytes', __value__: utf8Strict.decode(bytes) };
    } catch {
      return { __type__: 'base64', __value__: bytes.toString('base64') };
    }
  }
  return value;
}

function decodeJson(body: Buffer): unknown {
  let parsed: unknown;
  try {
    parsed = loads(utf8Strict.decode(body));
  } catch (err) {
    throw new MalformedMessageError(`cannot decode application/json body: ${(err as Error).message}`);
  }
  return reviveKombuTypes(parsed);
}

/** kombu's `object_hook`: an object whose key set is exactly {__type__, __value__} is a typed value. */
export function reviveKombuTypes(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const revived = reviveKombuTypes(value[i]);
      if (revived !== value[i]) value[i] = revived;
    }
    return value;
  }
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || value instanceof Date) {
    return value;
  }
  const record = value as Record<string, unknown>;
  // for-in, not Object.keys: this runs on every message body, and an empty kwargs is the usual case.
  let count = 0;
  for (const key in record) {
    if (!Object.prototype.hasOwnProperty.call(record, key)) continue;
    count++;
    const revived = reviveKombuTypes(record[key]);
    if (revived !== record[key]) setData(record, key, revived);
  }
  if (count === 2 && '__type__' in record && '__value__' in record) {
    return decodeWrapper(record.__type__, record.__value__);
  }
  return value;
}

function decodeWrapper(type: unknown, value: unknown): unknown {
  const bad = (why: string): never => {
    throw new MalformedMessageError(`bad kombu ${JSON.stringify(type)} value ${JSON.stringify(value)}: ${why}`);
  };
  switch (type) {
    case 'datetime':
      if (typeof value !== 'string') return bad('expected a string');
      try {
        return parseIsoDate(value);
      } catch (err) {
        return bad((err as Error).message);
      }
    case 'date':
    case 'time':
    case 'decimal':
      // Kept as text: JS has no date-only or time-only type, and a number would lose decimal precision.
      return typeof value === 'string' ? value : bad('expected a string');
    case 'uuid': {
      const hex = typeof value === 'string' ? value : (value as { hex?: unknown } | null)?.hex;
      if (typeof hex !== 'string') return bad('expected {"hex": ...} or a string');
      const digits = hex.toLowerCase().replace(/^urn:uuid:/, '').replace(/[{}-]/g, '');
      if (!/^[0-9a-f]{32}$/.test(digits)) return bad('not a UUID');
      return digits.replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
    }
    case 'bytes':
      return typeof value === 'string' ? Buffer.from(value, 'utf8') : bad('expected a string');
    case 'base64':
      return typeof value === 'string' ? Buffer.from(value, 'base64') : bad('expected a string');
    default:
      // kombu raises ValueError("Unsupported type") here too.
      return bad('unsupported __type__');
  }
}

// ---------------------------------------------------------------------------------------------
// msgpack: kombu uses packb(use_bin_type=True) / unpackb(raw=False): str, bin and plain maps only

// 'auto' (numbers when safe, bigint beyond 2^53) is supported at runtime; msgpackr's types omit it.
const INT64_AUTO = 'auto' as unknown as 'bigint';

let packr: Msgpackr.Packr | undefined;
const getPackr = (): Msgpackr.Packr => (packr ??= new (loadMsgpackr().Packr)(PACKR_OPTIONS));
const PACKR_OPTIONS: Msgpackr.Options = {
  useRecords: false, // no msgpackr record extension: Python cannot read it
  mapsAsObjects: true, // maps become plain objects; integer keys become their decimal text
  variableMapSize: true, // fixmap for small maps, as Python writes (byte-identical small bodies)
  int64AsType: INT64_AUTO,
  encodeUndefinedAsNil: true,
  copyBuffers: true, // decoded bin values must not alias the message body
};

/** Python packs ints as ints whatever their size; msgpackr would pack large ones as float64. */
function toMsgpackLeaf(value: unknown): unknown {
  if (value instanceof Date) return formatIsoUtc(value);
  if (typeof value === 'number' && Number.isSafeInteger(value) && (value > 0xffffffff || value < -0x80000000)) {
    return BigInt(value);
  }
  return value;
}

function decodeMsgpack(body: Buffer): unknown {
  try {
    return getPackr().unpack(body);
  } catch (err) {
    throw new MalformedMessageError(`cannot decode application/x-msgpack body: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// yaml: PyYAML safe_dump / safe_load speak YAML 1.1 (yes/no booleans, timestamps, !!binary)

function encodeYaml(value: unknown): Buffer {
  // safe_dump sorts keys; matching it keeps simple bodies byte-identical to Celery's. Maps become
  // plain mappings (the yaml package would write a JS Map as !!omap, which PyYAML reads as pairs).
  const plain = prepare(value, (v) => v, false);
  return Buffer.from(loadYaml().stringify(plain, { version: '1.1', sortMapEntries: true }), 'utf8');
}

function decodeYaml(body: Buffer): unknown {
  let text: string;
  try {
    text = utf8Strict.decode(body);
  } catch (err) {
    throw new MalformedMessageError(`cannot decode application/x-yaml body: ${(err as Error).message}`);
  }
  const doc = loadYaml().parseDocument(text, { version: '1.1', prettyErrors: false });
  // safe_load refuses tags it cannot construct (e.g. !!python/object); the yaml package only warns.
  const problem = doc.errors[0] ?? doc.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
  try {
    if (problem) throw problem;
    return doc.toJS({ maxAliasCount: 100 }); // throws on alias bombs
  } catch (err) {
    throw new MalformedMessageError(`cannot decode application/x-yaml body: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Copy a value into plain arrays/objects for an encoder, applying `leaf` to every value first
 * (a changed result is used as is). Drops undefined and functions like JSON; rejects cycles.
 */
function prepare(
  value: unknown,
  leaf: (v: unknown) => unknown,
  keepMaps = true,
  seen = new Set<object>(),
): unknown {
  const converted = leaf(value);
  if (converted !== value) return converted;
  if (typeof value !== 'object' || value === null || value instanceof Date || ArrayBuffer.isView(value)) {
    return value;
  }
  if (seen.has(value)) throw new TypeError('Circular reference in value to serialize');
  seen.add(value);
  try {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return prepare(toJSON.call(value), leaf, keepMaps, seen);
    const kept = (v: unknown): boolean => v !== undefined && typeof v !== 'function';
    if (Array.isArray(value) || value instanceof Set) {
      return [...value].map((v: unknown) => (kept(v) ? prepare(v, leaf, keepMaps, seen) : null));
    }
    if (value instanceof Map && keepMaps) {
      // Stays a Map: unlike an object it keeps integer-like keys in insertion order, as Python does.
      // Keys become strings (Python's msgpack refuses int map keys by default).
      const map = new Map<string, unknown>();
      for (const [k, v] of value) if (kept(v)) map.set(String(k), prepare(v, leaf, keepMaps, seen));
      return map;
    }
    const out: Record<string, unknown> = {};
    const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
    for (const [k, v] of entries) {
      if (kept(v)) setData(out, String(k), prepare(v, leaf, keepMaps, seen));
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** Own data property; plain assignment of a "__proto__" key would set the prototype instead. */
function setData(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function refusePickle(): never {
  throw new ContentDisallowedError(PICKLE_REFUSAL);
}

const SERIALIZERS: readonly Serializer[] = [
  {
    name: 'json',
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    encode: encodeJson,
    decode: decodeJson,
  },
  {
    name: 'msgpack',
    contentType: 'application/x-msgpack',
    contentEncoding: 'binary',
    // Copied: msgpackr hands out slices of a buffer it keeps writing into.
    encode: (value) => Buffer.from(getPackr().pack(prepare(value, toMsgpackLeaf))),
    decode: decodeMsgpack,
  },
  {
    name: 'yaml',
    contentType: 'application/x-yaml',
    contentEncoding: 'utf-8',
    encode: encodeYaml,
    decode: decodeYaml,
  },
  {
    name: 'pickle',
    contentType: 'application/x-python-serialize',
    contentEncoding: 'binary',
    encode: refusePickle,
    decode: refusePickle,
  },
];

function byName(name: string): Serializer {
  const serializer = SERIALIZERS.find((s) => s.name === name);
  if (!serializer) {
    const valid = serializerNames().join(', ');
    throw new ContentDisallowedError(`unknown serializer ${JSON.stringify(name)}; valid: ${valid}`);
  }
  return serializer;
}

function byContentType(contentType: string): Serializer | undefined {
  return SERIALIZERS.find((s) => s.contentType === contentType);
}

/** `application/json; charset=utf-8` → `application/json`; an absent type is kombu's `application/data`. */
function normalizeContentType(contentType: string | null | undefined): string {
  // Every message of a task queue carries one of a few types: skip the parsing for the usual ones.
  if (contentType === 'application/json' || contentType === 'application/x-msgpack') return contentType;
  const bare = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return bare === '' ? 'application/data' : bare;
}

/** An accept list as a set of trimmed, lower-case entries, made once per list (it is the app's setting). */
const acceptedSets = new WeakMap<readonly string[], Set<string>>();

function acceptedSet(accept: readonly string[]): Set<string> {
  let set = acceptedSets.get(accept);
  if (!set) {
    set = new Set(accept.map((a) => a.trim().toLowerCase()));
    acceptedSets.set(accept, set);
  }
  return set;
}

export function serializerNames(): string[] {
  return SERIALIZERS.map((s) => s.name);
}

export function contentTypeFor(name: string): string {
  return byName(name).contentType;
}

/** Serialize a value the way kombu's `dumps(data, serializer=name)` does. */
export function encode(serializer: string, value: unknown): EncodedBody {
  const s = byName(serializer);
  return { body: s.encode(value), contentType: s.contentType, contentEncoding: s.contentEncoding };
}

/**
 * Deserialize a body by its content type. `accept` lists serializer names or content types
 * (Celery's `accept_content`); anything else, and pickle always, throws `ContentDisallowedError`.
 * Undecodable bytes throw `MalformedMessageError`.
 */
export function decode(
  body: Buffer,
  contentType: string,
  contentEncoding: string,
  accept: readonly string[] = DEFAULT_ACCEPT,
): unknown {
  const type = normalizeContentType(contentType);
  const serializer = byContentType(type);
  if (serializer?.name === 'pickle') refusePickle();
  if (!TRUSTED_CONTENT.has(type)) {
    const accepted = acceptedSet(accept);
    const allowed = accepted.has(type) || (serializer !== undefined && accepted.has(serializer.name));
    if (!serializer) {
      const known = SERIALIZERS.map((s) => s.contentType).join(', ');
      throw new ContentDisallowedError(`refusing to deserialize content of unknown type ${type}; known: ${known}`);
    }
    if (!allowed) {
      throw new ContentDisallowedError(
        `refusing to deserialize untrusted content of type ${serializer.name} (${type}); ` +
          `accepted: ${accept.join(', ')}`,
      );
    }
  }
  // kombu returns empty bodies as they are, without running a decoder.
  if (body.length === 0) return body;
  if (serializer) return serializer.decode(body);
  // Trusted raw content: text unless the encoding says binary (kombu's SKIP_DECODE).
  const encoding = (contentEncoding || 'utf-8').toLowerCase();
  return encoding === 'binary' || encoding === 'ascii-8bit' ? body : body.toString('utf8');
}
