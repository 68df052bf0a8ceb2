/**
 * Python `repr` text for JS values, and Celery's `saferepr` (`celery/utils/saferepr.py`), which
 * writes the `argsrepr`/`kwargsrepr` headers. saferepr is not plain repr: strings are wrapped in
 * single quotes with only `'` escaped (non-ASCII and control characters stay as they are), nesting
 * deeper than 3 levels prints as `[...]`, and output is cut at 1024 characters with `, ...` plus
 * the closing brackets. The streaming algorithm is ported as is so truncation matches Celery.
 */
import { formatFiniteNumber } from './pyjson.js';

/** Celery's `argsrepr_maxsize` and `kwargsrepr_maxsize`. */
export const REPR_MAXSIZE = 1024;
const MAX_LEVELS = 3;

/** `(2, 3)`, `(1,)`, `()`: Celery builds the args repr from a tuple. */
export function argsRepr(args: readonly unknown[], maxlen: number | null = REPR_MAXSIZE): string {
  return scalarArgsRepr(args, maxlen) ?? saferepr(new PyTuple(args), maxlen);
}

/** `{'x': 1, 'y': 2}` */
export function kwargsRepr(kwargs: Record<string, unknown>, maxlen: number | null = REPR_MAXSIZE): string {
  return scalarKwargsRepr(kwargs, maxlen) ?? saferepr(kwargs, maxlen);
}

/**
 * saferepr's text for the common call: only scalars, short enough that nothing is truncated. Every
 * message sent builds two of these, and the token stream costs microseconds; null means "use it".
 */
function scalarRepr(value: unknown): string | null {
  if (typeof value === 'string') return `'${value.replace(/'/g, "\\'")}'`;
  if (typeof value === 'object' && value !== null) return null;
  return pyRepr(value);
}

function fits(text: string, maxlen: number | null): boolean {
  // UTF-16 length bounds the code-point count saferepr measures, so this never admits a cut text.
  return maxlen === null || text.length < maxlen;
}

function scalarArgsRepr(args: readonly unknown[], maxlen: number | null): string | null {
  if (args.length === 0) return '()';
  let out = '(';
  for (let i = 0; i < args.length; i++) {
    const item = scalarRepr(args[i]);
    if (item === null) return null;
    out += i === 0 ? item : `, ${item}`;
  }
  out += args.length === 1 ? ',)' : ')';
  return fits(out, maxlen) ? out : null;
}

function scalarKwargsRepr(kwargs: Record<string, unknown>, maxlen: number | null): string | null {
  if (Object.getPrototypeOf(kwargs) !== Object.prototype) return null;
  let out = '{';
  for (const key in kwargs) {
    if (!Object.prototype.hasOwnProperty.call(kwargs, key)) continue;
    const value = scalarRepr(kwargs[key]);
    if (value === null) return null;
    out += `${out === '{' ? '' : ', '}${scalarRepr(key) as string}: ${value}`;
  }
  out += '}';
  return fits(out, maxlen) ? out : null;
}

/** Marks an array that Python would hold as a tuple. */
export class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

// ---------------------------------------------------------------------------------------------
// Python repr

/** Python's `repr()` of the value a JS value stands for (None, True, 'text', [..], {..}, (..,)). */
export function pyRepr(value: unknown): string {
  return reprValue(value, new Set());
}

function reprValue(value: unknown, seen: Set<object>): string {
  if (value === null || value === undefined) return 'None';
  switch (typeof value) {
    case 'boolean':
      return value ? 'True' : 'False';
    case 'number':
      return pyNumber(value);
    case 'bigint':
      return value.toString();
    case 'string':
      return reprString(value);
    case 'object':
      break;
    default:
      return `<${typeof value}>`;
  }
  if (value instanceof Date) return reprDatetime(value);
  if (ArrayBuffer.isView(value)) return reprBytes(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  if (seen.has(value)) return value instanceof PyTuple ? '(...)' : Array.isArray(value) ? '[...]' : '{...}';
  seen.add(value);
  try {
    if (value instanceof PyTuple) {
      const items = value.items.map((v) => reprValue(v, seen));
      return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
    }
    if (Array.isArray(value)) return `[${value.map((v) => reprValue(v, seen)).join(', ')}]`;
    if (value instanceof Set) {
      return value.size === 0 ? 'set()' : `{${[...value].map((v) => reprValue(v, seen)).join(', ')}}`;
    }
    const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
    return `{${entries.map(([k, v]) => `${reprValue(k, seen)}: ${reprValue(v, seen)}`).join(', ')}}`;
  } finally {
    seen.delete(value);
  }
}

/** `str()` of a Python number; JS integers are written as Python ints. */
function pyNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  // Beyond 1e21 JS switches to exponent notation; a Python int prints every digit.
  if (Number.isInteger(n) && Math.abs(n) >= 1e21) return BigInt(n).toString();
  return formatFiniteNumber(n);
}

/** Python's str repr: prefer single quotes, switch to double when only `'` occurs. */
function reprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0) as number;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f || (code > 0x7f && NON_PRINTABLE.test(ch))) out += escapeCode(code);
    else out += ch;
  }
  return out + quote;
}

/** What `str.isprintable()` rejects (besides ASCII controls): Other and Separator categories but space. */
const NON_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;

function escapeCode(code: number): string {
  const hex = code.toString(16);
  if (code <= 0xff) return `\\x${hex.padStart(2, '0')}`;
  if (code <= 0xffff) return `\\u${hex.padStart(4, '0')}`;
  return `\\U${hex.padStart(8, '0')}`;
}

function reprBytes(bytes: Buffer): string {
  const hasSingle = bytes.includes(0x27);
  const quote = hasSingle && !bytes.includes(0x22) ? '"' : "'";
  let out = `b${quote}`;
  for (const byte of bytes) {
    const ch = String.fromCharCode(byte);
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (byte < 0x20 || byte >= 0x7f) out += `\\x${byte.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

function reprDatetime(d: Date): string {
  if (Number.isNaN(d.getTime())) return 'datetime.datetime(<invalid>)';
  const fields = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes()];
  const [seconds, micros] = [d.getUTCSeconds(), d.getUTCMilliseconds() * 1000];
  // Python drops trailing zero fields: seconds only when there are no microseconds either.
  if (seconds !== 0 || micros !== 0) fields.push(seconds);
  if (micros !== 0) fields.push(micros);
  return `datetime.datetime(${fields.join(', ')}, tzinfo=datetime.timezone.utc)`;
}

// ---------------------------------------------------------------------------------------------
// saferepr: tokens flow through a stack of iterators, exactly like the Python generator version

class Lit {
  constructor(
    readonly value: string,
    readonly truncate: boolean,
    readonly direction: number,
  ) {}
}
class Key {
  constructor(readonly value: unknown) {}
}
/** Leaves a container: removes it from the recursion guard. */
class Dirty {
  constructor(readonly obj: object) {}
}

const LIT_DICT_START = new Lit('{', false, +1);
const LIT_DICT_KVSEP = new Lit(': ', true, 0);
const LIT_DICT_END = new Lit('}', false, -1);
const LIT_LIST_START = new Lit('[', false, +1);
const LIT_LIST_END = new Lit(']', false, -1);
const LIT_LIST_SEP = new Lit(', ', true, 0);
const LIT_SET_START = new Lit('{', false, +1);
const LIT_SET_END = new Lit('}', false, -1);
const LIT_TUPLE_START = new Lit('(', false, +1);
const LIT_TUPLE_END = new Lit(')', false, -1);
const LIT_TUPLE_END_SV = new Lit(',)', false, -1);

type Token =
  | { kind: 'lit'; value: string }
  | { kind: 'key'; value: unknown }
  | { kind: 'quoted'; value: string | Uint8Array }
  | { kind: 'text'; value: string };

function* chainList(items: Iterable<unknown>): Generator<unknown> {
  const all = [...items];
  for (let i = 0; i < all.length; i++) {
    yield all[i];
    if (i < all.length - 1) yield LIT_LIST_SEP;
  }
}

function* chainDict(entries: [unknown, unknown][]): Generator<unknown> {
  for (let i = 0; i < entries.length; i++) {
    const [k, v] = entries[i] as [unknown, unknown];
    yield new Key(k);
    yield LIT_DICT_KVSEP;
    yield v;
    if (i < entries.length - 1) yield LIT_LIST_SEP;
  }
}

/** Python's itertools.chain; never closes `rest`, which a `for..of` + break would do. */
function* chain(
  head: unknown[],
  body: Iterator<unknown>,
  tail: unknown[],
  rest: Iterator<unknown>,
): Generator<unknown> {
  yield* head;
  for (let r = body.next(); !r.done; r = body.next()) yield r.value;
  yield* tail;
  for (let r = rest.next(); !r.done; r = rest.next()) yield r.value;
}

function containerParts(val: object): [Lit, Lit, Iterator<unknown>] | null {
  if (val instanceof PyTuple) {
    return [LIT_TUPLE_START, val.items.length === 1 ? LIT_TUPLE_END_SV : LIT_TUPLE_END, chainList(val.items)];
  }
  if (Array.isArray(val)) return [LIT_LIST_START, LIT_LIST_END, chainList(val)];
  if (val instanceof Set) return [LIT_SET_START, LIT_SET_END, chainList(val)];
  if (val instanceof Map) return [LIT_DICT_START, LIT_DICT_END, chainDict([...val.entries()])];
  if (val instanceof Date || ArrayBuffer.isView(val)) return null;
  return [LIT_DICT_START, LIT_DICT_END, chainDict(Object.entries(val))];
}

function* reprstream(stack: Iterator<unknown>[], maxlevels: number): Generator<[Token, Iterator<unknown>]> {
  const seen = new Set<object>();
  let level = 0;
  while (stack.length > 0) {
    const it = stack.shift() as Iterator<unknown>;
    for (let r = it.next(); !r.done; r = it.next()) {
      const val = r.value;
      if (val instanceof Dirty) {
        seen.delete(val.obj);
      } else if (val instanceof Lit) {
        level += val.direction;
        yield [{ kind: 'lit', value: val.value }, it];
      } else if (val instanceof Key) {
        yield [{ kind: 'key', value: val.value }, it];
      } else if (typeof val === 'number' || typeof val === 'boolean' || typeof val === 'bigint') {
        yield [{ kind: 'text', value: pyRepr(val) }, it];
      } else if (typeof val === 'string' || val instanceof Uint8Array) {
        yield [{ kind: 'quoted', value: val }, it];
      } else if (typeof val !== 'object' || val === null) {
        yield [{ kind: 'text', value: pyRepr(val) }, it];
      } else if (val instanceof Set && val.size === 0) {
        yield [{ kind: 'text', value: 'set()' }, it];
      } else {
        const parts = containerParts(val);
        if (!parts) {
          yield [{ kind: 'text', value: pyRepr(val) }, it];
          continue;
        }
        const [start, end, items] = parts;
        if (maxlevels && level >= maxlevels) {
          yield [{ kind: 'text', value: `${start.value}...${end.value}` }, it];
          continue;
        }
        if (seen.has(val)) {
          yield [{ kind: 'text', value: `<Recursion on ${val.constructor?.name ?? 'object'}>` }, it];
          continue;
        }
        seen.add(val);
        // Descend: the rest of the current iterator continues after the container's end.
        stack.push(chain([start], items, [new Dirty(val), end], it));
        break;
      }
    }
  }
}

/** `celery.utils.text.truncate`: cut at maxlen code points, back to the last space, add `...`. */
function truncate(s: string, maxlen: number | null): string {
  if (!maxlen) return s;
  const chars = [...s];
  if (chars.length < maxlen) return s;
  const head = chars.slice(0, maxlen).join('');
  const space = head.lastIndexOf(' ');
  return `${space === -1 ? head : head.slice(0, space)}...`;
}

function formatChars(val: string | Uint8Array, maxlen: number | null): string {
  if (typeof val === 'string') return `'${truncate(val, maxlen).replace(/'/g, "\\'")}'`;
  const bytes = Buffer.from(val.buffer, val.byteOffset, val.byteLength);
  if (maxlen && bytes.length > maxlen) return `b'${bytesText(bytes.subarray(0, maxlen))}...'`;
  return `b'${bytesText(bytes)}'`;
}

/** saferepr shows bytes as their UTF-8 text, or as hex when they are not UTF-8. */
function bytesText(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('hex');
  }
}

/** Celery's `saferepr(o, maxlen)`; `maxlen` null means no limit. */
export function saferepr(o: unknown, maxlen: number | null = null, maxlevels = MAX_LEVELS): string {
  const stack: Iterator<unknown>[] = [[o][Symbol.iterator]()];
  const out: string[] = [];
  let remaining = maxlen;
  const stream = reprstream(stack, maxlevels);
  for (let r = stream.next(); !r.done; r = stream.next()) {
    const [token, it] = r.value;
    if (remaining !== null && remaining <= 0) {
      out.push(', ...');
      stack.push(it);
      break;
    }
    let text: string;
    if (token.kind === 'lit') text = token.value;
    else if (token.kind === 'key') text = saferepr(token.value, remaining, maxlevels);
    else if (token.kind === 'quoted') text = formatChars(token.value, remaining);
    else text = truncate(token.value, remaining);
    out.push(text);
    if (remaining !== null) remaining -= [...text].length;
  }
  // Past the limit, only the closing brackets of the open containers are written.
  for (const rest of stack) {
    for (let r = rest.next(); !r.done; r = rest.next()) {
      if (r.value instanceof Lit && !r.value.truncate) out.push(r.value.value);
    }
  }
  return out.join('');
}
