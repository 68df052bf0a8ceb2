/**
 * JSON text as Python's `json.dumps` writes it (separators `", "` and `": "`, `ensure_ascii=True`),
 * so the bodies we publish are byte-for-byte what a Celery client would publish for the same values.
 * Parsing also accepts Python's `NaN`, `Infinity` and `-Infinity` tokens, which `json.dumps` emits.
 */

export function dumps(value: unknown): string {
  return write(value, new Set());
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
