/**
 * Building task messages in Celery's protocol v2 (`celery/app/amqp.py::as_task_v2` plus what
 * `send_task_message` and kombu's `Producer.publish` add), and the signature dict helper.
 * Decoding lives in task-decode.ts and is re-exported here.
 */
import { hostname } from 'node:os';
import { compress } from './compression.js';
import { formatIsoUtc, parseIsoDate } from './dates.js';
import { argsRepr, kwargsRepr } from './repr.js';
import { encode } from './serializers.js';
import type { MessageProperties, SignatureDict, TaskHeaders, TransportMessage } from './types.js';

export { formatIsoUtc, parseIsoDate } from './dates.js';
export { decodeTaskMessage } from './task-decode.js';

export interface BuildTaskOptions {
  taskName: string;
  id: string;
  args?: readonly unknown[];
  kwargs?: Record<string, unknown>;
  /** Absolute ETA (callers turn a countdown into one). A string is taken as already formatted. */
  eta?: Date | string | null;
  expires?: Date | string | null;
  /** Seconds until expiry, for the AMQP `expiration` property. Derived from `expires` when absent. */
  expiresSeconds?: number | null;
  group?: string | null;
  groupIndex?: number | null;
  retries?: number;
  timeLimit?: number | null;
  softTimeLimit?: number | null;
  /** Defaults to the task id. */
  rootId?: string | null;
  parentId?: string | null;
  shadow?: string | null;
  /** Defaults to Celery's `anon_nodename()`: `gen<pid>@<hostname>`. */
  origin?: string;
  ignoreResult?: boolean;
  replyTo?: string | null;
  priority?: number | null;
  /** Serializer name; `json` by default. */
  serializer?: string;
  /** Compression alias or mime type; none when null or absent. */
  compression?: string | null;
  /** Custom headers, merged at the top level after Celery's own (and overriding them, as in Celery). */
  headers?: Record<string, unknown>;
  callbacks?: SignatureDict[] | null;
  errbacks?: SignatureDict[] | null;
  /** Remaining chain steps, last step first (the worker pops from the end). */
  chain?: SignatureDict[] | null;
  chord?: SignatureDict | null;
  /** Stamping API values; their names become `stamped_headers`. */
  stamps?: Record<string, unknown>;
  argsrepr?: string;
  kwargsrepr?: string;
  replacedTaskNesting?: number;
  deliveryMode?: number;
  /** The `lang` header; see DEFAULT_LANG. */
  lang?: string;
}

/**
 * Python writes "py"; nothing in Celery reads the header (the worker never checks it, and
 * `Context._get_custom_headers` only filters it out), so it can name the real sender language,
 * as the protocol documentation intends and other non-Python clients do.
 */
export const DEFAULT_LANG = 'js';

/** Celery's `anon_nodename()`, the default `origin` of messages sent outside a worker. */
export function anonNodename(): string {
  // os.hostname() is a system call; it runs once per message otherwise.
  cachedNodename ??= `gen${process.pid}@${hostname()}`;
  return cachedNodename;
}
let cachedNodename: string | undefined;

/** Build a protocol v2 task message ready for a broker (body serialized and maybe compressed). */
export function buildTaskMessage(opts: BuildTaskOptions): TransportMessage {
  const args = opts.args ?? [];
  const kwargs = opts.kwargs ?? {};
  if (!Array.isArray(args)) throw new TypeError('task args must be a list');
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
    throw new TypeError('task keyword arguments must be a mapping');
  }
  const stamps = opts.stamps ?? {};
  const stampNames = Object.keys(stamps);
  // Key order is as_task_v2's; JSON consumers see it and byte-level comparisons depend on it.
  const base: TaskHeaders = {
    lang: opts.lang ?? DEFAULT_LANG,
    task: opts.taskName,
    id: opts.id,
    shadow: opts.shadow ?? null,
    eta: isoOrNull(opts.eta),
    expires: isoOrNull(opts.expires),
    group: opts.group ?? null,
    group_index: opts.groupIndex ?? null,
    retries: opts.retries ?? 0,
    timelimit: [opts.timeLimit ?? null, opts.softTimeLimit ?? null],
    root_id: opts.rootId || opts.id,
    parent_id: opts.parentId ?? null,
    argsrepr: opts.argsrepr ?? argsRepr(args),
    kwargsrepr: opts.kwargsrepr ?? kwargsRepr(kwargs),
    origin: opts.origin || anonNodename(),
    ignore_result: opts.ignoreResult ?? false,
    replaced_task_nesting: opts.replacedTaskNesting ?? 0,
    stamped_headers: stampNames.length > 0 ? stampNames : null,
    stamps,
  };
  const headers: TaskHeaders = hasKeys(opts.headers) ? { ...base, ...opts.headers } : base;

  const properties: MessageProperties = {
    correlation_id: opts.id,
    reply_to: opts.replyTo ?? '',
    delivery_mode: opts.deliveryMode ?? 2,
  };
  const expiration = expirationSeconds(opts);
  // kombu: str(int(expiration * 1000)); Celery clamps a past expiry to 0.
  if (expiration !== null) properties.expiration = String(Math.trunc(Math.max(0, expiration) * 1000));
  if (opts.priority !== undefined && opts.priority !== null) properties.priority = opts.priority;

  const embed = {
    callbacks: opts.callbacks ?? null,
    errbacks: opts.errbacks ?? null,
    chain: opts.chain ?? null,
    chord: opts.chord ?? null,
  };
  const encoded = encode(opts.serializer ?? 'json', [args, kwargs, embed]);
  let body = encoded.body;
  if (opts.compression) {
    const compressed = compress(opts.compression, body);
    body = compressed.body;
    // kombu's Producer._prepare sets it after Celery's headers, so it comes last.
    headers.compression = compressed.mime;
  }
  return { body, contentType: encoded.contentType, contentEncoding: encoded.contentEncoding, headers, properties };
}

function hasKeys(value: Record<string, unknown> | undefined): value is Record<string, unknown> {
  for (const key in value) if (Object.prototype.hasOwnProperty.call(value, key)) return true;
  return false;
}

function isoOrNull(value: Date | string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : formatIsoUtc(value);
}

function expirationSeconds(opts: BuildTaskOptions): number | null {
  if (opts.expiresSeconds !== undefined && opts.expiresSeconds !== null) return opts.expiresSeconds;
  if (opts.expires === null || opts.expires === undefined) return null;
  const expires = typeof opts.expires === 'string' ? parseIsoDate(opts.expires) : opts.expires;
  return (expires.getTime() - Date.now()) / 1000;
}

export interface SignatureFlags {
  subtaskType?: string | null;
  immutable?: boolean;
}

/** A canvas signature as Celery serializes it, keys in `Signature.__init__` order. */
export function signatureDict(
  task: string,
  args: readonly unknown[] = [],
  kwargs: Record<string, unknown> = {},
  options: Record<string, unknown> = {},
  flags: SignatureFlags = {},
): SignatureDict {
  return {
    task,
    args: [...args],
    kwargs: { ...kwargs },
    options: { ...options },
    subtask_type: flags.subtaskType ?? null,
    immutable: flags.immutable ?? false,
  };
}
