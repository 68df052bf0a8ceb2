/**
 * JSON text as Python's `json.dumps` writes it (separators `", "` and `": "`, `ensure_ascii=True`),
 * so the bodies we publish are byte-for-byte what a Celery client would publish for the same values.
 * Parsing also accepts Python's `NaN`, `Infinity` and `-Infinity` tokens, which `json.dumps` emits.
 */

export function dumps(value: unknown): string {
  try {
    return writeFast(value, 0);
  } catch (err) {
    if (err !== TOO_DEEP) throw err;
    // Very deep, or a cycle: the exact writer keeps a set of open objects and names the cycle.
    return write(value, new Set());
  }
}

/**
 * `dumps({ ...base, ...extra })` without building the merged object (spreading a message's
 * properties into a new object costs more than writing it), with `omit` left out of `base`.
 */
export function dumpsMerged(base: Record<string, unknown>, extra: Record<string, unknown>, omit?: string): string {
  let out = '{';
  const field = (key: string, value: unknown): void => {
    if (value === undefined || typeof value === 'function') return;
    out += quotedKey(key, out === '{');
    out += dumps(value);
  };
  for (const key in base) {
    if (key === omit || !Object.prototype.hasOwnProperty.call(base, key)) continue;
    field(key, Object.prototype.hasOwnProperty.call(extra, key) ? extra[key] : base[key]);
  }
  for (const key in extra) {
    if (!Object.prototype.hasOwnProperty.call(extra, key)) continue;
    if (key === omit || !Object.prototype.hasOwnProperty.call(base, key)) field(key, extra[key]);
  }
  return `${out}}`;
}

const TOO_DEEP = new Error('value nests too deeply for the fast writer');
/** Deeper than this, the fast writer hands over to `write`, which detects cycles. */
const MAX_FAST_DEPTH = 200;

/** Strings that need no escaping: printable ASCII except `"` and `\\`. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * `"key": ` and `, "key": ` for object keys seen before: keys repeat from message to message, and
 * building the separator per key would copy a string for every key of every message.
 */
const quotedKeys = new Map<string, [first: string, later: string]>();

function quotedKeyPair(key: string): [string, string] {
  let pair = quotedKeys.get(key);
  if (pair === undefined) {
    const quoted = `${quote(key)}: `;
    pair = [quoted, `, ${quoted}`];
    if (quotedKeys.size < 2000) quotedKeys.set(key, pair);
  }
  return pair;
}

function quotedKey(key: string, first = true): string {
  return quotedKeyPair(key)[first ? 0 : 1];
}

/**
 * The same text as `write`, built in one pass without a set of open objects (a depth bound stands
 * in for cycle detection). This runs for every message published and every result stored, so it
 * avoids JSON.stringify-then-rescan and per-value allocations.
 */
function writeFast(value: unknown, depth: number): string {
  // The two commonest cases first: a plain string needs no escaping, an integer no float format.
  if (typeof value === 'string' && PLAIN.test(value)) return `"${value}"`;
  if (typeof value === 'number' && Number.isInteger(value)) return String(value);
  const scalar = scalarText(value);
  if (scalar !== undefined) return scalar;
  if (depth > MAX_FAST_DEPTH) throw TOO_DEEP;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    let out = `[${writeFast(value[0], depth + 1)}`;
    for (let i = 1; i < value.length; i++) out += `, ${writeFast(value[i], depth + 1)}`;
    return `${out}]`;
  }
  const obj = value as { toJSON?: () => unknown };
  if (typeof obj.toJSON === 'function') return writeFast(obj.toJSON(), depth + 1);
  if (obj instanceof Map) {
    // Entries in the Map's own order (an object would move integer-like keys first).
    let out = '{';
    for (const [k, v] of obj as Map<unknown, unknown>) out += (out === '{' ? '' : ', ') + quotedKey(String(k)) + writeFast(v, depth + 1);
    return `${out}}`;
  }
  if (obj instanceof Set) return writeFast([...obj], depth + 1);
  let out = '{';
  let first = true;
  const record = obj as Record<string, unknown>;
  for (const key in record) {
    if (!Object.prototype.hasOwnProperty.call(record, key)) continue;
    const v = record[key];
    if (v === undefined || typeof v === 'function') continue;
    out += quotedKey(key, first);
    out += writeFast(v, depth + 1);
    first = false;
  }
  return `${out}}`;
}

/** Python's text for a value that is not an object or array, or undefined for those. */
function scalarText(value: unknown): string | undefined {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      if (Number.isNaN(value)) return 'NaN';
      if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
      return formatFiniteNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'function':
    case 'symbol':
      return 'null';
    default:
      return undefined;
  }
}

function write(value: unknown, seen: Set<object>): string {
  const scalar = scalarText(value);
  if (scalar !== undefined) return scalar;
  const obj = value as { toJSON?: () => unknown };
  if (typeof obj.toJSON === 'function') return write(obj.toJSON(), seen);
  if (seen.has(obj)) throw new TypeError('Circular reference in value to serialize');
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      let out = '[';
      for (let i = 0; i < obj.length; i++) out += (i === 0 ? '' : ', ') + write(obj[i], seen);
      return `${out}]`;
    }
    if (obj instanceof Map) return writeEntries([...obj.entries()].map(([k, v]) => [String(k), v]), seen);
    if (obj instanceof Set) return write([...obj], seen);
    // A plain loop: this runs for every message published and every result stored.
    let out = '{';
    let first = true;
    const record = obj as Record<string, unknown>;
    for (const key in record) {
      if (!Object.prototype.hasOwnProperty.call(record, key)) continue;
      const v = record[key];
      if (v === undefined || typeof v === 'function') continue;
      out += (first ? '' : ', ') + quote(key) + ': ' + write(v, seen);
      first = false;
    }
    return `${out}}`;
  } finally {
    seen.delete(obj);
  }
}

/**
 * A finite number as Python's `repr(float)` writes it: the same shortest round-trip digits as JS,
 * but scientific notation below 1e-4 with a two-digit exponent (`1e-05`, where JS writes `0.00001`).
 * Integral values are written as integers, which is what a Python `int` would give.
 */
export function formatFiniteNumber(value: number): string {
  if (Number.isInteger(value) || value === 0) return String(value);
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  if (exponent >= -4) return String(value);
  return `${mantissa}e-${String(-exponent).padStart(2, '0')}`;
}

function writeEntries(entries: [string, unknown][], seen: Set<object>): string {
  return `{${entries.map(([k, v]) => `${quote(k)}: ${write(v, seen)}`).join(', ')}}`;
}

const ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** Anything but printable ASCII other than `"` and `\\`: those strings take the slow path. */
const NEEDS_ESCAPE = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;

/** Quote like Python with ensure_ascii: every non-ASCII UTF-16 unit becomes `\uXXXX` (surrogates stay pairs). */
function quote(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    const code = s.charCodeAt(i);
    const esc = ESCAPES[ch];
    if (esc !== undefined) out += esc;
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

const PY_SPECIALS = /\b(NaN|-?Infinity)\b/;

/** Parse JSON, accepting Python's non-standard float tokens outside strings. */
export function loads(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (!PY_SPECIALS.test(text)) throw err;
    return JSON.parse(replaceSpecials(text), (_k, v: unknown) =>
      typeof v === 'string' && v.startsWith(SPECIAL_MARK) ? Number(v.slice(SPECIAL_MARK.length)) : v,
    );
  }
}

const SPECIAL_MARK = '\u0000celeriac-float:';

/** Replace bare NaN/Infinity tokens (outside string literals) with marked strings. */
function replaceSpecials(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (inString) {
      out += ch;
      if (ch === '\\') out += text[++i] ?? '';
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') {
      inString = true;
      out += ch;
      continue;
    }
    const m = /^(NaN|-?Infinity)/.exec(text.slice(i, i + 9));
    if (m) {
      out += JSON.stringify(SPECIAL_MARK + m[1]);
      i += (m[1] as string).length - 1;
      continue;
    }
    out += ch;
  }
  return out;
}
