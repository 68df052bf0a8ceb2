import { describe, expect, it } from 'vitest';
import { decode } from '../../src/protocol/serializers.js';
import { decompress } from '../../src/protocol/compression.js';
import {
  anonNodename,
  buildTaskMessage,
  decodeTaskMessage,
  formatIsoUtc,
  parseIsoDate,
  signatureDict,
} from '../../src/protocol/message.js';

const ID = 'f1b80556-8d07-4c15-804a-17a2f5bbc2af';

const HEADER_ORDER = [
  'lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index', 'retries', 'timelimit', 'root_id',
  'parent_id', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result', 'replaced_task_nesting', 'stamped_headers',
  'stamps',
];

describe('buildTaskMessage', () => {
  it("writes Celery 5.6's headers, in order, with its defaults", () => {
    const msg = buildTaskMessage({ taskName: 'proj.tasks.add', id: ID, args: [2, 3], origin: 'gen1@vm' });
    expect(Object.keys(msg.headers)).toEqual(HEADER_ORDER);
    expect(msg.headers).toEqual({
      lang: 'js',
      task: 'proj.tasks.add',
      id: ID,
      shadow: null,
      eta: null,
      expires: null,
      group: null,
      group_index: null,
      retries: 0,
      timelimit: [null, null],
      root_id: ID,
      parent_id: null,
      argsrepr: '(2, 3)',
      kwargsrepr: '{}',
      origin: 'gen1@vm',
      ignore_result: false,
      replaced_task_nesting: 0,
      stamped_headers: null,
      stamps: {},
    });
    expect(msg.properties).toEqual({ correlation_id: ID, reply_to: '', delivery_mode: 2 });
    expect(msg.contentType).toBe('application/json');
    expect(msg.contentEncoding).toBe('utf-8');
    expect(msg.body.toString()).toBe(
      '[[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]',
    );
  });

  it("defaults origin to Celery's anon_nodename", () => {
    expect(anonNodename()).toMatch(/^gen\d+@.+$/);
    expect(buildTaskMessage({ taskName: 't', id: ID }).headers.origin).toBe(anonNodename());
  });

  it('merges custom headers at the top level, overriding in place, and puts compression last', () => {
    const msg = buildTaskMessage({
      taskName: 't',
      id: ID,
      headers: { 'x-tenant': 'acme', retries: 4 },
      compression: 'zlib',
    });
    expect(Object.keys(msg.headers)).toEqual([...HEADER_ORDER, 'x-tenant', 'compression']);
    expect(msg.headers.retries).toBe(4);
    expect(msg.headers.compression).toBe('application/x-gzip');
    expect(decode(decompress('application/x-gzip', msg.body), msg.contentType, msg.contentEncoding)).toEqual([
      [],
      {},
      { callbacks: null, errbacks: null, chain: null, chord: null },
    ]);
  });

  it('writes eta and expires as isoformat with microseconds, and expiration in milliseconds', () => {
    const msg = buildTaskMessage({
      taskName: 't',
      id: ID,
      eta: new Date(Date.UTC(2026, 10, 21, 19, 14, 23, 367)),
      expires: new Date(Date.UTC(2026, 10, 21, 19, 15, 13, 367)),
      expiresSeconds: 59.9999,
      priority: 5,
      replyTo: 'reply-oid',
    });
    expect(msg.headers.eta).toBe('2026-11-21T19:14:23.367000+00:00');
    expect(msg.headers.expires).toBe('2026-11-21T19:15:13.367000+00:00');
    expect(msg.properties).toEqual({
      correlation_id: ID,
      reply_to: 'reply-oid',
      delivery_mode: 2,
      expiration: '59999',
      priority: 5,
    });
  });

  it('derives expiration from expires when no seconds are given, and clamps the past to 0', () => {
    const soon = buildTaskMessage({ taskName: 't', id: ID, expires: new Date(Date.now() + 60_000) });
    expect(Number(soon.properties.expiration)).toBeGreaterThan(59_000);
    const past = buildTaskMessage({ taskName: 't', id: ID, expires: new Date(Date.now() - 5_000) });
    expect(past.properties.expiration).toBe('0');
  });

  it('fills the rest of the header set from the options', () => {
    const sig = signatureDict('proj.tasks.add', [10]);
    const msg = buildTaskMessage({
      taskName: 't',
      id: ID,
      kwargs: { x: 1 },
      group: 'g',
      groupIndex: 2,
      retries: 1,
      timeLimit: 30,
      softTimeLimit: 20,
      rootId: 'root',
      parentId: 'parent',
      shadow: 'shadowed',
      ignoreResult: true,
      stamps: { monitoring_id: 'abc' },
      lang: 'py',
      callbacks: [sig],
      chain: [sig, sig],
      chord: sig,
    });
    expect(msg.headers).toMatchObject({
      lang: 'py',
      group: 'g',
      group_index: 2,
      retries: 1,
      timelimit: [30, 20],
      root_id: 'root',
      parent_id: 'parent',
      shadow: 'shadowed',
      kwargsrepr: "{'x': 1}",
      ignore_result: true,
      stamped_headers: ['monitoring_id'],
      stamps: { monitoring_id: 'abc' },
    });
    const decoded = decodeTaskMessage(msg);
    expect(decoded.embed).toEqual({ callbacks: [sig], errbacks: null, chain: [sig, sig], chord: sig });
  });

  it.each(['msgpack', 'yaml'])('serializes with %s', (serializer) => {
    const msg = buildTaskMessage({ taskName: 't', id: ID, args: [1, 'two'], kwargs: { k: [3] }, serializer });
    const decoded = decodeTaskMessage(msg, [serializer]);
    expect([decoded.args, decoded.kwargs]).toEqual([[1, 'two'], { k: [3] }]);
  });

  it('rejects args that are not a list and kwargs that are not a mapping', () => {
    expect(() => buildTaskMessage({ taskName: 't', id: ID, args: 'x' as unknown as unknown[] })).toThrow(
      'task args must be a list',
    );
    expect(() => buildTaskMessage({ taskName: 't', id: ID, kwargs: [] as unknown as Record<string, unknown> })).toThrow(
      'task keyword arguments must be a mapping',
    );
  });

  it('refuses pickle', () => {
    expect(() => buildTaskMessage({ taskName: 't', id: ID, serializer: 'pickle' })).toThrow(/arbitrary code/);
  });
});

describe('signatureDict', () => {
  it("uses Celery's keys and order", () => {
    const sig = signatureDict('proj.tasks.fail', [], {}, {}, { immutable: true });
    expect(Object.keys(sig)).toEqual(['task', 'args', 'kwargs', 'options', 'subtask_type', 'immutable']);
    expect(sig).toEqual({
      task: 'proj.tasks.fail',
      args: [],
      kwargs: {},
      options: {},
      subtask_type: null,
      immutable: true,
    });
    expect(signatureDict('celery.chain', [], { tasks: [] }, {}, { subtaskType: 'chain' }).subtask_type).toBe('chain');
  });
});

describe('formatIsoUtc and parseIsoDate', () => {
  it('formats like Python isoformat of an aware UTC datetime', () => {
    expect(formatIsoUtc(new Date(Date.UTC(2026, 10, 21, 19, 14, 23, 367)))).toBe('2026-11-21T19:14:23.367000+00:00');
    expect(formatIsoUtc(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)))).toBe('2026-01-02T03:04:05+00:00');
    expect(formatIsoUtc(new Date(Date.UTC(999, 0, 1, 0, 0, 0, 1)))).toBe('0999-01-01T00:00:00.001000+00:00');
    expect(() => formatIsoUtc(new Date(NaN))).toThrow(RangeError);
  });

  it.each([
    ['2026-11-21T19:14:23.367056+00:00', Date.UTC(2026, 10, 21, 19, 14, 23, 367)],
    ['2026-11-21T19:14:23.367056', Date.UTC(2026, 10, 21, 19, 14, 23, 367)],
    ['2026-11-21T19:14:23Z', Date.UTC(2026, 10, 21, 19, 14, 23)],
    ['2026-11-21 19:14:23+05:30', Date.UTC(2026, 10, 21, 13, 44, 23)],
    ['2026-11-21T19:14:23-0100', Date.UTC(2026, 10, 21, 20, 14, 23)],
    ['2026-11-21T19:14', Date.UTC(2026, 10, 21, 19, 14)],
    ['2026-11-21', Date.UTC(2026, 10, 21)],
    ['2024-02-29T00:00:00.5+00:00', Date.UTC(2024, 1, 29, 0, 0, 0, 500)],
  ])('parses %s', (text, ms) => {
    expect(parseIsoDate(text).getTime()).toBe(ms);
  });

  const invalid = ['yesterday', '', '2026-13-01', '2026-02-29', '2026-11-21T24:00:00', '2026-11-21T10:61'];
  it.each([...invalid, '2026-11-21T10:00+25:00'])('rejects %j', (text) => {
    expect(() => parseIsoDate(text)).toThrow(RangeError);
  });

  it('round-trips its own output', () => {
    const date = new Date(Date.UTC(2030, 5, 15, 8, 9, 10, 11));
    expect(parseIsoDate(formatIsoUtc(date))).toEqual(date);
  });
});
