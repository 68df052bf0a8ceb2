/**
 * The Python-style JSON writer's fast path against its exact writer: the same text for every shape,
 * and cycles still reported. (Byte-parity with Celery's own output is in encoding-parity.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { dumps, dumpsMerged } from '../../src/protocol/pyjson.js';
import { encodeEnvelope } from '../../src/protocol/envelope.js';
import { buildTaskMessage } from '../../src/protocol/message.js';

describe('dumps', () => {
  it('writes Python separators, escapes and number forms', () => {
    const value = { s: 'a,b: "q" \\ ü\n', n: [1, -0, 1.5, 1e-7, 1e21, NaN, -Infinity], b: [true, false, null], e: {}, a: [] };
    expect(dumps(value)).toBe(
      '{"s": "a,b: \\"q\\" \\\\ \\u00fc\\n", "n": [1, 0, 1.5, 1e-07, 1e+21, NaN, -Infinity], "b": [true, false, null], "e": {}, "a": []}',
    );
  });

  it('skips undefined and functions in objects and writes them as null in arrays, as JSON does', () => {
    expect(dumps({ a: undefined, f: () => 1, k: [undefined, () => 1] })).toBe('{"k": [null, null]}');
  });

  it('keeps a Map in insertion order (integer-like keys included) and writes a Set as a list', () => {
    expect(dumps(new Map<unknown, unknown>([['b', 1], [2, 'x'], ['1', null]]))).toBe('{"b": 1, "2": "x", "1": null}');
    expect(dumps(new Set([3, 'a']))).toBe('[3, "a"]');
  });

  it('writes very deep values through the exact writer, and reports cycles', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 500; i++) deep = [deep];
    expect(dumps(deep)).toBe(`${'['.repeat(500)}"leaf"${']'.repeat(500)}`);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => dumps(cyclic)).toThrow(/Circular/);
  });

  it('dumpsMerged writes exactly what dumps of the spread object writes', () => {
    const base = { correlation_id: 'x', priority: 3, delivery_info: { old: true }, reply_to: '' };
    const extra = { delivery_info: { exchange: '', routing_key: 'q' }, priority: 1, delivery_tag: 't' };
    const { priority: _omitted, ...rest } = base;
    expect(dumpsMerged(base, extra, 'priority')).toBe(dumps({ ...rest, ...extra }));
    expect(dumpsMerged({}, extra)).toBe(dumps(extra));
  });
});

describe('encodeEnvelope', () => {
  it('is the text dumps() writes for the envelope object kombu builds', () => {
    const message = buildTaskMessage({ taskName: 't.add', id: 'id-1', args: [2, 'ü'], kwargs: { k: [1] }, priority: 4, headers: { custom: 1 } });
    message.properties.delivery_info = { stale: true };
    const text = encodeEnvelope(message, { exchange: 'ex', routingKey: 'rk' });
    const parsed = JSON.parse(text) as { properties: { delivery_tag: string } };
    const { priority, ...rest } = message.properties;
    const expected = dumps({
      body: message.body.toString('base64'),
      'content-encoding': message.contentEncoding,
      'content-type': message.contentType,
      headers: message.headers,
      properties: {
        ...rest,
        delivery_info: { exchange: 'ex', routing_key: 'rk' },
        priority: priority ?? 0,
        body_encoding: 'base64',
        delivery_tag: parsed.properties.delivery_tag,
      },
    });
    expect(text).toBe(expected);
  });
});
