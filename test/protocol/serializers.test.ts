import { describe, expect, it } from 'vitest';
import { ContentDisallowedError, MalformedMessageError } from '../../src/errors.js';
import { contentTypeFor, decode, encode, serializerNames } from '../../src/protocol/serializers.js';

const ALL = ['json', 'msgpack', 'yaml'];

function roundTrip(serializer: string, value: unknown): unknown {
  const { body, contentType, contentEncoding } = encode(serializer, value);
  return decode(body, contentType, contentEncoding, ALL);
}

function decodeJson(text: string): unknown {
  return decode(Buffer.from(text, 'utf8'), 'application/json', 'utf-8');
}

const SAMPLE = {
  int: 42,
  negative: -7,
  float: 3.5,
  big: 5_000_000_000,
  text: 'héllo ✓ 日本語 🎉',
  empty: '',
  flags: [true, false, null],
  nested: { list: [1, [2, [3]]], map: { a: { b: {} } } },
};

describe('registry', () => {
  it('names the serializers and their content types', () => {
    expect(serializerNames()).toEqual(['json', 'msgpack', 'yaml', 'pickle']);
    expect(contentTypeFor('json')).toBe('application/json');
    expect(contentTypeFor('msgpack')).toBe('application/x-msgpack');
    expect(contentTypeFor('yaml')).toBe('application/x-yaml');
    expect(contentTypeFor('pickle')).toBe('application/x-python-serialize');
    expect(() => contentTypeFor('bson')).toThrow(/unknown serializer "bson"/);
  });

  it.each([
    ['json', 'application/json', 'utf-8'],
    ['msgpack', 'application/x-msgpack', 'binary'],
    ['yaml', 'application/x-yaml', 'utf-8'],
  ])('%s encodes with content type %s and encoding %s', (name, type, encoding) => {
    const encoded = encode(name, [1]);
    expect([encoded.contentType, encoded.contentEncoding]).toEqual([type, encoding]);
  });

  it.each(ALL)('%s round-trips plain values', (name) => {
    expect(roundTrip(name, SAMPLE)).toEqual(SAMPLE);
  });
});

describe('json', () => {
  it('writes Python json.dumps text', () => {
    const body = encode('json', [[2, 3], { x: 'ü' }, { chain: null, f: 1e-5 }]).body.toString('utf8');
    expect(body).toBe('[[2, 3], {"x": "\\u00fc"}, {"chain": null, "f": 1e-05}]');
  });

  it('adds Python separators outside strings only, and keeps Python float forms', () => {
    // Plain ASCII takes the native fast path; the float forms make it fall back to the exact writer.
    const fast = encode('json', ['a,b:c', 'q"uo\\"te\\', { k: [true, false, null] }, 1.5, -2]).body.toString('utf8');
    expect(fast).toBe('["a,b:c", "q\\"uo\\\\\\"te\\\\", {"k": [true, false, null]}, 1.5, -2]');
    const floats = encode('json', [1e-7, 0.00001, 1e21]).body.toString('utf8');
    expect(floats).toBe('[1e-07, 1e-05, 1e+21]');
  });

  it('round-trips NaN and infinities the way Python writes them', () => {
    const body = encode('json', [NaN, Infinity, -Infinity]).body.toString('utf8');
    expect(body).toBe('[NaN, Infinity, -Infinity]');
    expect(decodeJson(body)).toEqual([NaN, Infinity, -Infinity]);
  });

  it('writes dates as isoformat strings and bigints as numbers', () => {
    const body = encode('json', { at: new Date(Date.UTC(2026, 10, 21, 19, 14, 23, 367)), n: 12345678901234567890n });
    expect(body.body.toString('utf8')).toBe('{"at": "2026-11-21T19:14:23.367000+00:00", "n": 12345678901234567890}');
  });

  it('wraps bytes like kombu: utf-8 text as bytes, anything else as base64', () => {
    const text = encode('json', [Buffer.from('hi ✓'), new Uint8Array([0xff, 0x00])]).body.toString('utf8');
    expect(text).toBe(
      '[{"__type__": "bytes", "__value__": "hi \\u2713"}, {"__type__": "base64", "__value__": "/wA="}]',
    );
    expect(decodeJson(text)).toEqual([Buffer.from('hi ✓'), Buffer.from([0xff, 0x00])]);
  });

  it('drops undefined and functions like JSON, and rejects cycles', () => {
    expect(encode('json', { a: undefined, b: () => 1, c: [undefined] }).body.toString()).toBe('{"c": [null]}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encode('json', cyclic)).toThrow(/Circular/);
  });

  it('writes Maps as objects and Sets as lists', () => {
    const body = encode('json', new Map<unknown, unknown>([['a', new Set([1, 2])], [3, 'x']])).body.toString();
    expect(body).toBe('{"a": [1, 2], "3": "x"}');
  });
});

describe('kombu JSON wrappers', () => {
  const wrap = (type: string, value: unknown): string => JSON.stringify({ __type__: type, __value__: value });

  it.each([
    ['datetime', '2024-01-02T03:04:05+00:00', new Date(Date.UTC(2024, 0, 2, 3, 4, 5))],
    ['datetime', '2024-01-02T03:04:05.123456+02:00', new Date(Date.UTC(2024, 0, 2, 1, 4, 5, 123))],
    ['datetime', '2024-01-02T03:04:05', new Date(Date.UTC(2024, 0, 2, 3, 4, 5))],
    ['date', '2024-01-02', '2024-01-02'],
    ['time', '03:04:05.000001', '03:04:05.000001'],
    ['decimal', '3.14159265358979323846264338327950288', '3.14159265358979323846264338327950288'],
    ['uuid', { hex: 'D39AE785CA3F381A89D11FDEE7985A99' }, 'd39ae785-ca3f-381a-89d1-1fdee7985a99'],
    ['uuid', 'd39ae785-ca3f-381a-89d1-1fdee7985a99', 'd39ae785-ca3f-381a-89d1-1fdee7985a99'],
    ['bytes', 'héllo', Buffer.from('héllo', 'utf8')],
    ['base64', '/wA=', Buffer.from([0xff, 0x00])],
  ])('%s %j decodes', (type, value, expected) => {
    expect(decodeJson(wrap(type, value))).toEqual(expected);
  });

  it('decodes wrappers nested anywhere, innermost first', () => {
    const text = `{"a": [${wrap('decimal', '1.5')}, {"b": ${wrap('uuid', { hex: '0'.repeat(32) })}}]}`;
    expect(decodeJson(text)).toEqual({ a: ['1.5', { b: '00000000-0000-0000-0000-000000000000' }] });
  });

  it('leaves objects with other key sets alone', () => {
    const value = { __type__: 'datetime', __value__: 'x', extra: 1 };
    expect(decodeJson(JSON.stringify(value))).toEqual(value);
    expect(decodeJson('{"__type__": "datetime"}')).toEqual({ __type__: 'datetime' });
  });

  it('reads kombu 5.2 plain strings as strings', () => {
    expect(decodeJson('["2024-01-02T03:04:05Z", "1234abcd-0000-0000-0000-000000000000"]')).toEqual([
      '2024-01-02T03:04:05Z',
      '1234abcd-0000-0000-0000-000000000000',
    ]);
  });

  it.each([
    [wrap('pickle', 'x'), /unsupported __type__/],
    [wrap('datetime', 'yesterday'), /not an ISO-8601 date/],
    [wrap('uuid', { hex: 'xyz' }), /not a UUID/],
    [wrap('decimal', 1.5), /expected a string/],
  ])('rejects %s', (text, reason) => {
    expect(() => decodeJson(text)).toThrow(MalformedMessageError);
    expect(() => decodeJson(text)).toThrow(reason);
  });

  it('keeps a "__proto__" key as data', () => {
    const value = decodeJson(`{"__proto__": ${wrap('decimal', '2')}}`) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toBe('2');
  });
});

describe('msgpack', () => {
  it('writes the bytes Python msgpack writes for a task body', () => {
    const body = encode('msgpack', [[2, 3], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]).body;
    expect(body.toString('hex')).toBe(
      '939202038084a963616c6c6261636b73c0a86572726261636b73c0a5636861696ec0a563686f7264c0',
    );
  });

  it('keeps bytes as bin values and large integers as integers', () => {
    const value = { bin: Buffer.from([0, 255]), big: 2 ** 40, negative: -(2 ** 40) };
    const { body } = encode('msgpack', value);
    expect(body.includes(Buffer.from('c40200ff', 'hex'))).toBe(true);
    expect(body.includes(Buffer.from([0xcb]))).toBe(false); // no float64 anywhere
    expect(roundTrip('msgpack', value)).toEqual(value);
  });

  it('decodes maps to plain objects, integer keys included', () => {
    const decoded = decode(Buffer.from('8201a161a162c3', 'hex'), 'application/x-msgpack', 'binary', ALL);
    expect(decoded).toEqual({ 1: 'a', b: true });
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
  });

  it('decodes 64-bit integers to numbers, or bigints beyond 2^53', () => {
    const decodeHex = (hex: string): unknown => decode(Buffer.from(hex, 'hex'), 'application/x-msgpack', 'binary', ALL);
    expect(decodeHex('cf0000000100000000')).toBe(2 ** 32);
    expect(decodeHex('cfffffffffffffffff')).toBe(2n ** 64n - 1n);
  });

  it('writes dates as isoformat strings (Python msgpack has no datetime)', () => {
    expect(roundTrip('msgpack', new Date(Date.UTC(2026, 0, 1)))).toBe('2026-01-01T00:00:00+00:00');
  });

  it('rejects truncated data', () => {
    expect(() => decode(Buffer.from('93920203', 'hex'), 'application/x-msgpack', 'binary', ALL)).toThrow(
      MalformedMessageError,
    );
  });
});

describe('yaml', () => {
  it('writes what PyYAML safe_dump writes for a task body', () => {
    const body = encode('yaml', [[2, 3], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]).body;
    expect(body.toString('utf8')).toBe(
      '- - 2\n  - 3\n- {}\n- callbacks: null\n  chain: null\n  chord: null\n  errbacks: null\n',
    );
  });

  it('reads PyYAML safe_dump output: escapes, !!binary, timestamps, quoted look-alikes, floats', () => {
    // yaml.safe_dump([...]) from PyYAML 6.0
    const text =
      '- - 1\n  - two\n  - 3.5\n  - null\n  - true\n  - "h\\xE9llo \\u2713"\n  - !!binary |\n    AP8=\n' +
      "  - 'yes'\n  - '123'\n  - 1.0e-07\n  - .inf\n- empty: ''\n  multi: 'a\n\n    b'\n  nested:\n    a: {}\n" +
      "    b: []\n  quote: it's\n  when: 2026-11-21 19:14:23.367000+00:00\n- callbacks: null\n";
    expect(decode(Buffer.from(text), 'application/x-yaml', 'utf-8', ALL)).toEqual([
      [1, 'two', 3.5, null, true, 'héllo ✓', Buffer.from([0x00, 0xff]), 'yes', '123', 1e-7, Infinity],
      {
        empty: '',
        multi: 'a\nb',
        nested: { a: {}, b: [] },
        quote: "it's",
        when: new Date(Date.UTC(2026, 10, 21, 19, 14, 23, 367)),
      },
      { callbacks: null },
    ]);
  });

  it('reads YAML 1.1 booleans as PyYAML does', () => {
    expect(decode(Buffer.from('[yes, no, on, off]'), 'application/x-yaml', 'utf-8', ALL)).toEqual([
      true,
      false,
      true,
      false,
    ]);
  });

  it.each([
    ['!!python/object:os.system {}', /Unresolved tag/],
    ['a: 1\n---\nb: 2\n', /multiple documents|MULTIPLE_DOCS|Source contains/i],
    ['[unclosed', /yaml/],
  ])('refuses %j like safe_load', (text, reason) => {
    const run = (): unknown => decode(Buffer.from(text), 'application/x-yaml', 'utf-8', ALL);
    expect(run).toThrow(MalformedMessageError);
    expect(run).toThrow(reason);
  });
});

describe('content acceptance', () => {
  const msgpackBody = encode('msgpack', [1]).body;

  it('accepts json, msgpack and yaml by default', () => {
    expect(decode(msgpackBody, 'application/x-msgpack', 'binary')).toEqual([1]);
    expect(decode(Buffer.from('[1]'), 'application/x-yaml', 'utf-8')).toEqual([1]);
  });

  it('accepts by serializer name or by content type', () => {
    expect(decode(msgpackBody, 'application/x-msgpack', 'binary', ['msgpack'])).toEqual([1]);
    expect(decode(msgpackBody, 'application/x-msgpack', 'binary', ['application/x-msgpack'])).toEqual([1]);
  });

  it('refuses a content type outside accept, naming it', () => {
    const run = (): unknown => decode(msgpackBody, 'application/x-msgpack', 'binary', ['json']);
    expect(run).toThrow(ContentDisallowedError);
    expect(run).toThrow(/msgpack \(application\/x-msgpack\)/);
  });

  it('refuses unknown content types, naming them', () => {
    const run = (): unknown => decode(Buffer.from('x'), 'application/x-bson', 'binary', ['application/x-bson']);
    expect(run).toThrow(ContentDisallowedError);
    expect(run).toThrow(/application\/x-bson/);
  });

  it('ignores content-type parameters and case', () => {
    expect(decode(Buffer.from('[1]'), 'Application/JSON; charset=utf-8', 'utf-8', ['json'])).toEqual([1]);
  });

  it("passes kombu's trusted raw types through (application/data, or no content type)", () => {
    expect(decode(Buffer.from('hi'), 'application/data', 'utf-8', ['json'])).toBe('hi');
    expect(decode(Buffer.from([1, 2]), '', 'binary', ['json'])).toEqual(Buffer.from([1, 2]));
  });

  it('returns an empty body undecoded, like kombu', () => {
    expect(decode(Buffer.alloc(0), 'application/json', 'utf-8')).toEqual(Buffer.alloc(0));
  });

  it.each([
    ['not json', Buffer.from('{"a": '), /cannot decode application\/json body/],
    ['invalid utf-8', Buffer.from([0x5b, 0xff, 0x5d]), /cannot decode application\/json body/],
  ])('reports a %s body as malformed', (_what, body, reason) => {
    expect(() => decode(body, 'application/json', 'utf-8')).toThrow(MalformedMessageError);
    expect(() => decode(body, 'application/json', 'utf-8')).toThrow(reason);
  });
});

describe('pickle', () => {
  const reason =
    /pickle .*refused: unpickling data from the network executes arbitrary code.*json \(Celery's default\) or msgpack/;

  it('refuses to encode', () => {
    expect(() => encode('pickle', [1])).toThrow(ContentDisallowedError);
    expect(() => encode('pickle', [1])).toThrow(reason);
  });

  it('refuses to decode, even when accept lists it', () => {
    const body = Buffer.from('80049505000000000000005d942e', 'hex');
    for (const accept of [undefined, ['pickle'], ['application/x-python-serialize']]) {
      const run = (): unknown => decode(body, 'application/x-python-serialize', 'binary', accept);
      expect(run).toThrow(ContentDisallowedError);
      expect(run).toThrow(reason);
    }
  });
});

describe('Maps', () => {
  it.each(ALL)('%s keeps Map key order and writes keys as strings', (name) => {
    const decoded = roundTrip(name, new Map<unknown, unknown>([['b', 1], [3, 'x'], ['a', new Map([[1, 2]])]]));
    expect(decoded).toEqual({ b: 1, 3: 'x', a: { 1: 2 } });
  });
});

describe('yaml alias bombs', () => {
  it('refuses documents that expand aliases without bound ("billion laughs")', () => {
    const name = (level: number): string => String.fromCharCode(97 + level);
    const lines = [`a: &a [${Array(10).fill('x').join(', ')}]`];
    for (let level = 1; level < 10; level++) {
      lines.push(`${name(level)}: &${name(level)} [${Array(10).fill(`*${name(level - 1)}`).join(', ')}]`);
    }
    const run = (): unknown => decode(Buffer.from(lines.join('\n')), 'application/x-yaml', 'utf-8');
    expect(run).toThrow(MalformedMessageError);
    expect(run).toThrow(/alias/i);
  });
});
