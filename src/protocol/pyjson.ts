/**
 * JSON text as Python's `json.dumps` writes it (separators `", "` and `": "`, `ensure_ascii=True`),
 * so the bodies we publish are byte-for-byte what a Celery client would publish for the same values.
 * Parsing also accepts Python's `NaN`, `Infinity` and `-Infinity` tokens, which `json.dumps` emits.
 */

export function dumps(value: unknown): string {
  return fastDumps(value) ?? write(value, new Set());
}

const NEEDS_WRITER = new Error('value needs the Python-style writer');

/**
 * JSON.stringify's view of values, made to match `write`: Sets as arrays. NaN/Infinity and Maps
 * (whose key order an object cannot keep) go to `write` instead.
 */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw NEEDS_WRITER;
  } else if (value instanceof Map) {
    throw NEEDS_WRITER;
  } else if (value instanceof Set) {
    return [...value];
  }
  return value;
}

/**
 * The common case through native JSON.stringify, then Python's `", "` and `": "` separators added in
 * one scan: several times faster than `write` on a task envelope. Null when a value needs `write`:
 * NaN/Infinity, bigint, cycles, Maps, non-ASCII text (Python escapes it), and the number shapes
 * JavaScript and Python print differently (`1e-7` vs `1e-07`, `0.00001` vs `1e-05`).
 */
const NOT_PRINTABLE_ASCII = /[\u007f-\uffff]/;

/** Index of the quote closing the string that opens at `open` (JSON.stringify escapes `"` as `\\"`). */
function closingQuote(json: string, open: number): number {
  let at = json.indexOf('"', open + 1);
  for (;;) {
    let backslashes = 0;
    while (json.charCodeAt(at - 1 - backslashes) === 92) backslashes++;
    if (backslashes % 2 === 0) return at;
    at = json.indexOf('"', at + 1);
  }
}

function fastDumps(value: unknown): string | null {
  let json: string | undefined;
  try {
    json = JSON.stringify(value, replacer);
  } catch {
    return null;
  }
  if (json === undefined) return null;
  if (NOT_PRINTABLE_ASCII.test(json)) return null;
  let out = '';
  let last = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 34) i = closingQuote(json, i);
    else if (c === 44 || c === 58) {
      out += json.slice(last, i + 1) + ' ';
      last = i + 1;
    } else if ((c === 101 || c === 69) && json.charCodeAt(i + 1) === 45) return null; // e-
    else if (c === 46 && json.startsWith('0000', i + 1)) return null; // .0000
  }
  return out + json.slice(last);
}

function write(value: unknown, seen: Set<object>): string {
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
      break;
  }
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
