/**
 * Decoding a task message of any protocol version into the v2 shape, the way Celery's consumer
 * does: `headers.task` present means protocol 2 (`consumer.py::on_task_received`), unless the body
 * is a dict with "args" (a hybrid: `strategy.py::hybrid_to_proto2`); otherwise the body is a
 * protocol 1 dict (`proto1_to_proto2`). Unlike Celery, which fails late on odd values, everything
 * is validated here and a bad message is rejected with a `MalformedMessageError` saying why.
 */
import { MalformedMessageError } from '../errors.js';
import { decompress } from './compression.js';
import { formatIsoUtc, parseIsoDate } from './dates.js';
import { isRecord } from './envelope.js';
import { argsRepr, kwargsRepr } from './repr.js';
import { decode } from './serializers.js';
import type { DecodedTaskMessage, SignatureDict, TaskEmbed, TaskHeaders, TransportMessage } from './types.js';

/**
 * Decompress, deserialize (refusing content types outside `accept`) and normalize a task message.
 * `protocol` is 1 when the body was a protocol 1 dict, hybrid messages included.
 */
export function decodeTaskMessage(msg: TransportMessage, accept?: readonly string[]): DecodedTaskMessage {
  const headers = isRecord(msg.headers) ? msg.headers : {};
  const payload = decode(decompressBody(msg.body, headers.compression), msg.contentType, msg.contentEncoding, accept);
  if (headers.task !== undefined) {
    if (isRecord(payload) && 'args' in payload) return fromHybrid(msg, headers, payload);
    return fromV2(msg, headers, payload);
  }
  return fromV1(msg, headers, payload);
}

function decompressBody(body: Buffer, compression: unknown): Buffer {
  if (compression === undefined || compression === null) return body;
  if (typeof compression !== 'string') {
    fail(`compression header must be a mime type string, got ${describe(compression)}`);
  }
  try {
    return decompress(compression, body);
  } catch (err) {
    return fail((err as Error).message);
  }
}

function fromV2(msg: TransportMessage, headers: Record<string, unknown>, payload: unknown): DecodedTaskMessage {
  if (!Array.isArray(payload) || payload.length !== 3) {
    fail(`protocol 2 body must be a 3-element array [args, kwargs, embed], got ${describe(payload)}`);
  }
  const [args, kwargs, embed] = payload as [unknown, unknown, unknown];
  const checked = checkArguments(args, kwargs);
  return {
    protocol: 2,
    headers: normalizeHeaders(headers, checked, headers),
    properties: msg.properties,
    args: checked.args,
    kwargs: checked.kwargs,
    embed: normalizeEmbed(embed),
  };
}

/** Header fields `hybrid_to_proto2` takes from the body; the message headers then override them. */
const HYBRID_BODY_KEYS = [
  'lang', 'task', 'id', 'root_id', 'parent_id', 'group', 'shadow', 'eta', 'expires', 'retries',
  'timelimit', 'argsrepr', 'kwargsrepr', 'origin',
] as const;

function fromHybrid(
  msg: TransportMessage,
  headers: Record<string, unknown>,
  body: Record<string, unknown>,
): DecodedTaskMessage {
  const checked = checkArguments(body.args ?? [], body.kwargs ?? {});
  const fromBody = Object.fromEntries(HYBRID_BODY_KEYS.filter((k) => k in body).map((k) => [k, body[k]]));
  return {
    protocol: 1,
    headers: normalizeHeaders({ ...fromBody, ...headers }, checked, headers),
    properties: msg.properties,
    ...checked,
    embed: normalizeEmbed({ callbacks: body.callbacks, errbacks: body.errbacks, chain: null, chord: body.chord }),
  };
}

function fromV1(msg: TransportMessage, headers: Record<string, unknown>, body: unknown): DecodedTaskMessage {
  if (!isRecord(body)) {
    fail(`missing task name: no headers.task, and the body is not a protocol 1 task dict (got ${describe(body)})`);
  }
  if (body.task === undefined) fail('missing task name: neither headers.task nor body.task is set');
  const checked = checkArguments(body.args ?? [], body.kwargs ?? {});
  // Protocol 1 has no lang, origin or root_id; `taskset` is the old name of `group`. `utc: false`
  // (naive times in the sender's local zone) is not honoured: naive times are read as UTC.
  const fields: Record<string, unknown> = {
    lang: 'py',
    task: body.task,
    id: body.id,
    shadow: body.shadow,
    eta: body.eta,
    expires: body.expires,
    group: body.taskset ?? body.group,
    group_index: body.group_index,
    retries: body.retries,
    timelimit: body.timelimit,
    root_id: body.root_id,
    parent_id: body.parent_id,
  };
  return {
    protocol: 1,
    headers: normalizeHeaders(fields, checked, headers),
    properties: msg.properties,
    ...checked,
    embed: normalizeEmbed({ callbacks: body.callbacks, errbacks: body.errbacks, chain: null, chord: body.chord }),
  };
}

interface Arguments {
  args: unknown[];
  kwargs: Record<string, unknown>;
}

function checkArguments(args: unknown, kwargs: unknown): Arguments {
  if (!Array.isArray(args)) fail(`task args must be a list, got ${describe(args)}`);
  if (!isRecord(kwargs) || ArrayBuffer.isView(kwargs) || kwargs instanceof Date) {
    fail(`task kwargs must be an object (mapping), got ${describe(kwargs)}`);
  }
  return { args: args as unknown[], kwargs: kwargs as Record<string, unknown> };
}

/**
 * Celery's header set in as_task_v2 order, with Celery's defaults for what is missing (5.2 sends no
 * replaced_task_nesting/stamped_headers/stamps), then every other header of `extra` in its order.
 */
function normalizeHeaders(
  src: Record<string, unknown>,
  { args, kwargs }: Arguments,
  extra: Record<string, unknown>,
): TaskHeaders {
  const id = requiredString(src.id, 'task id');
  const headers: TaskHeaders = {
    lang: typeof src.lang === 'string' ? src.lang : 'py',
    task: requiredString(src.task, 'task name'),
    id,
    shadow: optionalString(src.shadow, 'shadow'),
    eta: optionalDate(src.eta, 'eta'),
    expires: optionalDate(src.expires, 'expires'),
    group: optionalString(src.group, 'group'),
    group_index: optionalInteger(src.group_index, 'group_index'),
    retries: optionalInteger(src.retries, 'retries') ?? 0,
    timelimit: timelimit(src.timelimit),
    root_id: optionalString(src.root_id, 'root_id') || id,
    parent_id: optionalString(src.parent_id, 'parent_id'),
    // Display-only; computed rather than left empty when a (protocol 1) sender did not provide them.
    argsrepr: typeof src.argsrepr === 'string' ? src.argsrepr : argsRepr(args),
    kwargsrepr: typeof src.kwargsrepr === 'string' ? src.kwargsrepr : kwargsRepr(kwargs),
    origin: typeof src.origin === 'string' ? src.origin : '',
    ignore_result: optionalBoolean(src.ignore_result, 'ignore_result') ?? false,
    replaced_task_nesting: optionalInteger(src.replaced_task_nesting, 'replaced_task_nesting') ?? 0,
    stamped_headers: stampedHeaders(src.stamped_headers),
    stamps: optionalRecord(src.stamps, 'stamps') ?? {},
  };
  // for-in, not Object.entries: this runs for every message, and entries allocates a pair per key.
  for (const key in extra) {
    if (!Object.hasOwn(extra, key) || Object.hasOwn(headers, key)) continue;
    Object.defineProperty(headers, key, { value: extra[key], enumerable: true, writable: true, configurable: true });
  }
  return headers;
}

function normalizeEmbed(embed: unknown): TaskEmbed {
  if (embed === null || embed === undefined) return { callbacks: null, errbacks: null, chain: null, chord: null };
  if (!isRecord(embed)) fail(`embed (third body element) must be an object or null, got ${describe(embed)}`);
  return {
    callbacks: signatureList(embed.callbacks, 'callbacks'),
    errbacks: signatureList(embed.errbacks, 'errbacks'),
    chain: signatureList(embed.chain, 'chain'),
    chord: embed.chord === null || embed.chord === undefined ? null : signature(embed.chord, 'chord'),
  };
}

function signatureList(value: unknown, name: string): SignatureDict[] | null {
  if (value === null || value === undefined) return null;
  if (!Array.isArray(value)) fail(`${name} must be a list of signatures or null, got ${describe(value)}`);
  return (value as unknown[]).map((item, i) => signature(item, `${name}[${i}]`));
}

function signature(value: unknown, name: string): SignatureDict {
  if (!isRecord(value) || typeof value.task !== 'string' || value.task === '') {
    fail(`${name} must be a signature dict with a "task" name, got ${describe(value)}`);
  }
  return value as unknown as SignatureDict;
}

// ---------------------------------------------------------------------------------------------
// field checks

function fail(reason: string): never {
  throw new MalformedMessageError(reason);
}

/** Short description of a bad value for error messages: its type and, for scalars, the value. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (Buffer.isBuffer(value)) return `${value.length} bytes`;
  if (typeof value === 'object') return 'an object';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return `${typeof value} ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}

function requiredString(value: unknown, name: string): string {
  if (value === undefined || value === null || value === '') fail(`missing ${name}`);
  if (typeof value !== 'string') fail(`${name} must be a string, got ${describe(value)}`);
  return value;
}

function optionalString(value: unknown, name: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') fail(`${name} must be a string or null, got ${describe(value)}`);
  return value;
}

function optionalInteger(value: unknown, name: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(`${name} must be a non-negative integer, got ${describe(value)}`);
  }
  return value;
}

function optionalBoolean(value: unknown, name: string): boolean | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'boolean') fail(`${name} must be a boolean, got ${describe(value)}`);
  return value;
}

function optionalRecord(value: unknown, name: string): Record<string, unknown> | null {
  if (value === undefined || value === null) return null;
  if (!isRecord(value)) fail(`${name} must be an object, got ${describe(value)}`);
  return value;
}

/** Kept as sent when valid (so a re-published message is unchanged); Dates become isoformat text. */
function optionalDate(value: unknown, name: string): string | null {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) fail(`invalid ${name} value: invalid date`);
    return formatIsoUtc(value);
  }
  if (typeof value !== 'string') fail(`invalid ${name} value ${describe(value)}: expected an ISO-8601 string`);
  try {
    parseIsoDate(value);
  } catch (err) {
    fail(`invalid ${name} value ${JSON.stringify(value)}: ${(err as Error).message}`);
  }
  return value;
}

function timelimit(value: unknown): [number | null, number | null] {
  if (value === undefined || value === null) return [null, null];
  const limits = Array.isArray(value) && value.length === 2 ? (value as unknown[]) : null;
  const valid = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isFinite(v) && v >= 0);
  if (!limits || !limits.every(valid)) {
    fail(`bad timelimit ${JSON.stringify(value) ?? describe(value)}: expected [hard, soft], each seconds or null`);
  }
  return [limits[0] as number | null, limits[1] as number | null];
}

function stampedHeaders(value: unknown): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    fail(`stamped_headers must be a list of header names or null, got ${describe(value)}`);
  }
  return value as string[];
}
