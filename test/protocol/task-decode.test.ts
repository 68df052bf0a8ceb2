import { describe, expect, it } from 'vitest';
import { ContentDisallowedError, MalformedMessageError } from '../../src/errors.js';
import { compress } from '../../src/protocol/compression.js';
import { decodeEnvelope } from '../../src/protocol/envelope.js';
import { decodeTaskMessage } from '../../src/protocol/message.js';
import { dumps } from '../../src/protocol/pyjson.js';
import { encode } from '../../src/protocol/serializers.js';
import type { TransportMessage } from '../../src/protocol/types.js';
import { loadFixture } from './fixture-files.js';

const ID = '015ec021-232d-4789-9b98-0b0abc9b02e3';
const NO_EMBED = { callbacks: null, errbacks: null, chain: null, chord: null };
const SIG = { task: 'proj.tasks.add', args: [10], kwargs: {}, options: {}, subtask_type: null, immutable: false };

function message(body: unknown, headers: Record<string, unknown>, serializer = 'json'): TransportMessage {
  const encoded = encode(serializer, body);
  const { body: bytes, contentType, contentEncoding } = encoded;
  return { body: bytes, contentType, contentEncoding, headers, properties: {} };
}

/** A raw JSON body, for shapes our encoder would not produce. */
function rawMessage(json: string, headers: Record<string, unknown>): TransportMessage {
  const contentType = 'application/json';
  return { body: Buffer.from(json), contentType, contentEncoding: 'utf-8', headers, properties: {} };
}

const v2 = (headers: Record<string, unknown>, body: unknown = [[1], {}, null]): TransportMessage =>
  message(body, { task: 'proj.tasks.add', id: ID, ...headers });

describe('protocol 2', () => {
  it("fills missing optional headers with Celery's defaults and a missing embed with nulls", () => {
    const decoded = decodeTaskMessage(v2({}));
    expect(decoded.protocol).toBe(2);
    expect(decoded.headers).toEqual({
      lang: 'py',
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
      argsrepr: '(1,)',
      kwargsrepr: '{}',
      origin: '',
      ignore_result: false,
      replaced_task_nesting: 0,
      stamped_headers: null,
      stamps: {},
    });
    expect(decoded.embed).toEqual(NO_EMBED);
  });

  it('fills a partial embed', () => {
    const decoded = decodeTaskMessage(v2({}, [[], {}, { callbacks: [SIG] }]));
    expect(decoded.embed).toEqual({ ...NO_EMBED, callbacks: [SIG] });
  });

  it("keeps custom headers after Celery's, in their order, and normalizes 5.2-era header sets", () => {
    const fixture = loadFixture('redis/task/5.2.6/apply_async_full.json');
    const decoded = decodeTaskMessage(decodeEnvelope(fixture.raw as string));
    expect(Object.keys(decoded.headers).slice(-5)).toEqual([
      'replaced_task_nesting',
      'stamped_headers',
      'stamps',
      'x-tenant',
      'x-trace',
    ]);
    expect(decoded.headers.timelimit).toEqual([30, 20]);
  });

  it('formats Date-typed eta/expires (from yaml or msgpack headers) as isoformat text', () => {
    const eta = new Date(Date.UTC(2026, 0, 1, 12));
    expect(decodeTaskMessage(v2({ eta })).headers.eta).toBe('2026-01-01T12:00:00+00:00');
  });

  it('decompresses per headers.compression', () => {
    const plain = message([[7], {}, null], {});
    const msg = { ...plain, body: compress('bzip2', plain.body).body };
    msg.headers = { task: 't', id: ID, compression: 'application/x-bz2' };
    expect(decodeTaskMessage(msg).args).toEqual([7]);
  });

  it('refuses content types outside accept', () => {
    const msg = message([[1], {}, null], { task: 't', id: ID }, 'msgpack');
    expect(() => decodeTaskMessage(msg, ['json'])).toThrow(ContentDisallowedError);
    expect(decodeTaskMessage(msg, ['json', 'msgpack']).args).toEqual([1]);
  });
});

describe('protocol 1', () => {
  it('converts a captured v1 message like proto1_to_proto2', () => {
    const fixture = loadFixture('redis/task/5.6.2/protocol_v1_apply_async_full.json');
    const decoded = decodeTaskMessage(decodeEnvelope(fixture.raw as string));
    expect(decoded.protocol).toBe(1);
    expect(decoded.headers).toEqual({
      lang: 'py',
      task: 'proj.tasks.add',
      id: ID,
      shadow: null,
      eta: '2026-11-21T20:07:49.654824+00:00',
      expires: '2026-11-21T20:08:39.654824+00:00',
      group: null,
      group_index: null,
      retries: 0,
      timelimit: [30, 20],
      root_id: ID,
      parent_id: null,
      argsrepr: '(2, 3)',
      kwargsrepr: '{}',
      origin: '',
      ignore_result: false,
      replaced_task_nesting: 0,
      stamped_headers: null,
      stamps: {},
      'x-tenant': 'acme',
    });
    expect(decoded.embed.chain).toBeNull();
    expect(decoded.embed.callbacks).toEqual([SIG]);
  });

  it('reads taskset as the group, defaults args/kwargs, and reads naive times as UTC', () => {
    const decoded = decodeTaskMessage(
      message({ task: 't', id: ID, taskset: 'g1', eta: '2026-01-01T00:00:00', utc: false, retries: 2 }, {}),
    );
    expect(decoded.args).toEqual([]);
    expect(decoded.kwargs).toEqual({});
    expect(decoded.headers).toMatchObject({ group: 'g1', retries: 2, eta: '2026-01-01T00:00:00', argsrepr: '()' });
  });
});

describe('hybrid messages (v2 headers, v1 body)', () => {
  it('takes fields from the body and lets the headers override them, like hybrid_to_proto2', () => {
    const body = { task: 't', id: ID, args: [1], kwargs: { k: 2 }, retries: 3, callbacks: [SIG], origin: 'body' };
    const decoded = decodeTaskMessage(message(body, { task: 't', id: ID, origin: 'headers', 'x-extra': 1 }));
    expect(decoded.protocol).toBe(1);
    expect([decoded.args, decoded.kwargs]).toEqual([[1], { k: 2 }]);
    expect(decoded.headers).toMatchObject({ retries: 3, origin: 'headers', 'x-extra': 1, argsrepr: '(1,)' });
    expect(decoded.embed).toEqual({ ...NO_EMBED, callbacks: [SIG] });
  });
});

describe('malformed messages', () => {
  it.each<[string, TransportMessage, RegExp]>([
    ['v2 body is an object', v2({}, { a: 1 }), /protocol 2 body must be a 3-element array.*got an object/],
    ['v2 body has 2 elements', v2({}, [[], {}]), /3-element array \[args, kwargs, embed\], got an array of 2/],
    ['v2 body is a string', v2({}, 'x'), /3-element array.*got string "x"/],
    ['args is not a list', v2({}, [{ a: 1 }, {}, null]), /task args must be a list, got an object/],
    ['kwargs is a list', v2({}, [[], [], null]), /task kwargs must be an object \(mapping\), got an array of 0/],
    ['embed is a list', v2({}, [[], {}, []]), /embed \(third body element\) must be an object or null/],
    ['callbacks is an object', v2({}, [[], {}, { callbacks: {} }]), /callbacks must be a list of signatures/],
    ['a signature has no task', v2({}, [[], {}, { chain: [{ args: [] }] }]), /chain\[0\] must be a signature dict/],
    ['chord is a string', v2({}, [[], {}, { chord: 'x' }]), /chord must be a signature dict/],
    ['task name is empty', message([[], {}, null], { task: '', id: ID }), /missing task name/],
    ['task name is a number', message([[], {}, null], { task: 5, id: ID }), /task name must be a string, got number 5/],
    ['id is missing', message([[], {}, null], { task: 't' }), /missing task id/],
    ['v1 body has no task', message({ id: ID, args: [] }, {}), /missing task name/],
    ['v1 body is a list', message([[], {}, null], {}), /missing task name: no headers.task/],
    ['timelimit has one item', v2({ timelimit: [1] }), /bad timelimit \[1\]: expected \[hard, soft\]/],
    ['timelimit is negative', v2({ timelimit: [-1, null] }), /bad timelimit \[-1,null\]/],
    ['timelimit is text', v2({ timelimit: 'soon' }), /bad timelimit "soon"/],
    ['eta is not a date', v2({ eta: 'tomorrow' }), /invalid eta value "tomorrow": not an ISO-8601 date/],
    ['expires is a number', v2({ expires: 1700000000 }), /invalid expires value number 1700000000/],
    ['eta is out of range', v2({ eta: '2026-02-30T00:00:00' }), /invalid eta value.*day out of range/],
    ['retries is negative', v2({ retries: -1 }), /retries must be a non-negative integer, got number -1/],
    ['group_index is text', v2({ group_index: '1' }), /group_index must be a non-negative integer/],
    ['group is a number', v2({ group: 7 }), /group must be a string or null, got number 7/],
    ['ignore_result is text', v2({ ignore_result: 'yes' }), /ignore_result must be a boolean/],
    ['stamped_headers is text', v2({ stamped_headers: 'a' }), /stamped_headers must be a list/],
    ['stamps is a list', v2({ stamps: [] }), /stamps must be an object/],
    ['compression is unknown', v2({ compression: 'application/x-snappy' }), /unknown compression "application\/x-sn/],
    ['compression is corrupt', v2({ compression: 'application/x-gzip' }), /cannot decompress application\/x-gzip body/],
    ['compression is not text', v2({ compression: 1 }), /compression header must be a mime type string/],
    ['body is not JSON', rawMessage('[[1], {}', { task: 't', id: ID }), /cannot decode application\/json body/],
  ])('%s', (_what, msg, reason) => {
    const run = (): unknown => decodeTaskMessage(msg);
    expect(run).toThrow(MalformedMessageError);
    expect(run).toThrow(reason);
  });

  it('reports an envelope that is not JSON', () => {
    expect(() => decodeEnvelope('{"body": ')).toThrow(MalformedMessageError);
    expect(() => decodeEnvelope(dumps({ headers: {} }))).toThrow(/no string "body"/);
  });
});
