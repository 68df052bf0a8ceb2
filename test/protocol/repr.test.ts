/**
 * Expected strings come from CPython 3.11: `repr()` for pyRepr, and Celery 5.6's
 * `celery.utils.saferepr.saferepr(value, 1024)` for argsRepr/kwargsRepr.
 */
import { describe, expect, it } from 'vitest';
import { argsRepr, kwargsRepr, pyRepr, PyTuple, saferepr } from '../../src/protocol/repr.js';
import { loadFixture } from './fixture-files.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('argsRepr and kwargsRepr (Celery saferepr)', () => {
  it.each([
    [[2, 3], '(2, 3)'],
    [[1], '(1,)'],
    [[], '()'],
    [['héllo ', 'wörld ✓ 日本語 🎉'], "('héllo ', 'wörld ✓ 日本語 🎉')"],
    [[3.5, 1e-5, 0.0001, -2.5e-10, true, false, null], '(3.5, 1e-05, 0.0001, -2.5e-10, True, False, None)'],
    // saferepr only escapes the single quote; backslashes and newlines stay raw.
    [["it's", 'say "hi"', 'back\\slash', 'nl\nx'], "('it\\'s', 'say \"hi\"', 'back\\slash', 'nl\nx')"],
    [[[[[1]]]], '([[[...]]],)'],
    [[[{ a: 1 }, { b: [1, 2, { c: 3 }] }]], "([{'a': 1}, {'b': [...]}],)"],
    [[Buffer.from('abc'), Buffer.from([0xff, 0x00])], "(b'abc', b'ff00')"],
  ])('argsRepr(%j) is %s', (args, expected) => {
    expect(argsRepr(args)).toBe(expected);
  });

  it.each([
    [{}, '{}'],
    [{ x: 1, y: 2 }, "{'x': 1, 'y': 2}"],
    [{ a: { b: { c: { d: 1 } } } }, "{'a': {'b': {'c': {...}}}}"],
  ])('kwargsRepr(%j) is %s', (kwargs, expected) => {
    expect(kwargsRepr(kwargs)).toBe(expected);
  });

  it('takes the same text from the scalar shortcut as from the full saferepr stream', () => {
    const cases: unknown[][] = [
      [],
      [0],
      ['x'],
      ["it's", 'a\\b', 'nl\nx', '🎉', 'ü'],
      [1.5, -0, NaN, Infinity, 1e-7, 12345678901234567890n, true, null, undefined],
      ['a'.repeat(1015)],
      ['a'.repeat(1016)],
      ['a'.repeat(1030)],
      ['🎉'.repeat(600)],
    ];
    for (const args of cases) {
      expect(argsRepr(args)).toBe(saferepr(new PyTuple(args), 1024));
      const kwargs = Object.fromEntries(args.map((v, i) => [`k'${i}`, v]));
      expect(kwargsRepr(kwargs)).toBe(saferepr(kwargs, 1024));
    }
  });

  it('matches the captured unicode_args headers', () => {
    const fixture = loadFixture('redis/task/5.6.2/unicode_args.json');
    const headers = (fixture.decoded as { headers: Record<string, string> }).headers;
    expect(argsRepr(['héllo ', 'wörld ✓ 日本語 🎉'])).toBe(headers.argsrepr);
    expect(kwargsRepr({})).toBe(headers.kwargsrepr);
  });

  // Truncation at 1024 characters: `, ...` and then only the closing brackets still pending.
  // When the limit runs out just before a closing bracket, Celery loses that bracket too.
  it.each([
    ['a long list', [range(600)], 1035, '([0, 1, 2, 3', ', 224, 225, 22..., ...],)'],
    ['many small args', range(400), 1033, '(0, 1, 2, 3, ', '224, 225, 226..., ...)'],
    ['a long string with spaces', ['word '.repeat(300)], 1030, "('word word ", "word word word...', ..."],
    ['a long string without spaces', ['x'.repeat(1100)], 1034, "('xxxxx", "xxxxx...', ..."],
    ['emoji, counted as code points', ['🎉'.repeat(1030)], 1034, "('🎉🎉", "🎉🎉...', ..."],
  ])('truncates %s like Celery', (_what, args, length, head, tail) => {
    const text = argsRepr(args);
    expect([...text].length).toBe(length);
    expect(text.startsWith(head)).toBe(true);
    expect(text.endsWith(tail)).toBe(true);
  });

  it('truncates long kwargs like Celery', () => {
    const text = kwargsRepr(Object.fromEntries(range(60).map((i) => [`k${i}`, 'v'.repeat(20)])));
    expect(text).toHaveLength(1035);
    expect(text.endsWith("'k32': 'vvvvvvvvvvvvvvvvvvvv', 'k33': 'vvv...', ...}")).toBe(true);
  });

  it('handles the exact limit edges like Celery', () => {
    expect(argsRepr(['a'.repeat(1018)])).toBe(`('${'a'.repeat(1018)}',)`);
    expect(argsRepr(['a'.repeat(1019)])).toBe(`('${'a'.repeat(1019)}',)`);
  });

  it('has no limit when maxlen is null', () => {
    expect(argsRepr([range(600)], null)).toBe(`([${range(600).join(', ')}],)`);
  });

  it('marks recursion instead of looping', () => {
    const cyclic: unknown[] = [1];
    cyclic.push(cyclic);
    expect(saferepr(cyclic, null, 0)).toBe('[1, <Recursion on Array>]');
  });
});

describe('pyRepr (Python repr)', () => {
  it.each([
    ['hello', "'hello'"],
    ["it's", '"it\'s"'],
    ['it\'s "x"', '\'it\\\'s "x"\''],
    ['say "hi"', '\'say "hi"\''],
    ['a\\b\nc\td\re', "'a\\\\b\\nc\\td\\re'"],
    ['\x01\x7f\x9f', "'\\x01\\x7f\\x9f'"],
    ['héllo ✓ 日本語 🎉', "'héllo ✓ 日本語 🎉'"],
    ['\xa0\u200b\u2028', "'\\xa0\\u200b\\u2028'"],
    ['\ud83c', "'\\ud83c'"],
  ])('repr of the string %j', (value, expected) => {
    expect(pyRepr(value)).toBe(expected);
  });

  it.each([
    [Buffer.from("ab'\\\n\x00\xff", 'latin1'), 'b"ab\'\\\\\\n\\x00\\xff"'],
    [Buffer.from("it's"), 'b"it\'s"'],
    [[1, 'a', null, true, 2.5, [], {}], "[1, 'a', None, True, 2.5, [], {}]"],
    [{ x: 1, y: [1, new PyTuple([2])] }, "{'x': 1, 'y': [1, (2,)]}"],
    [new PyTuple([1]), '(1,)'],
    [new PyTuple([]), '()'],
    [new Set(), 'set()'],
    [new Set([1, 'a']), "{1, 'a'}"],
    [new Map<unknown, unknown>([[1, 'a']]), "{1: 'a'}"],
    [[1e-5, 0.1, 1.5e-300, NaN, Infinity, -Infinity], '[1e-05, 0.1, 1.5e-300, nan, inf, -inf]'],
    [1e21, '1000000000000000000000'],
    [12345678901234567890n, '12345678901234567890'],
    [undefined, 'None'],
    [
      new Date(Date.UTC(2026, 10, 21, 19, 14, 23, 367)),
      'datetime.datetime(2026, 11, 21, 19, 14, 23, 367000, tzinfo=datetime.timezone.utc)',
    ],
    [new Date(Date.UTC(2026, 10, 21, 19, 14)), 'datetime.datetime(2026, 11, 21, 19, 14, tzinfo=datetime.timezone.utc)'],
  ])('repr of %s', (value, expected) => {
    expect(pyRepr(value)).toBe(expected);
  });

  it('marks recursive containers', () => {
    const list: unknown[] = [];
    list.push(list);
    expect(pyRepr(list)).toBe('[[...]]');
  });
});
