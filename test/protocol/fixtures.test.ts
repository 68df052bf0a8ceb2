/**
 * Every captured Celery sample decodes to what the capture says it holds. One test per file, so a
 * failure names the file.
 */
import { describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../../src/protocol/envelope.js';
import { decodeTaskMessage } from '../../src/protocol/message.js';
import { dumps } from '../../src/protocol/pyjson.js';
import { decode, encode } from '../../src/protocol/serializers.js';
import { decompress } from '../../src/protocol/compression.js';
import type { DecodedTaskMessage, TransportMessage } from '../../src/protocol/types.js';
import { fixturePaths, loadFixture, rawBytes } from './fixture-files.js';

/** What the capture app accepted (`accept_content=["json", "msgpack", "yaml"]`). */
const ACCEPT = ['json', 'msgpack', 'yaml'];

interface DecodedEnvelope {
  body: unknown;
  'content-type': string;
  'content-encoding': string;
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
}

const SERIALIZER_BY_TYPE: Record<string, string> = {
  'application/json': 'json',
  'application/x-msgpack': 'msgpack',
  'application/x-yaml': 'yaml',
};

/**
 * Our JSON encoder reproduces Celery's bytes for the decoded value. JS numbers cannot remember that
 * an integral value was a Python float (`"freq": 2.0`), so such literals are compared as ints.
 */
function expectJsonReencodes(value: unknown, celeryBytes: Buffer): void {
  const celeryText = celeryBytes.toString('utf8').replace(/(: |\[|, )(-?\d+)\.0(?=[,}\]])/g, '$1$2');
  expect(encode('json', value).body.toString('utf8')).toBe(celeryText);
}

/** Check a decoded task against the capture's decoded envelope (body as v2 array or v1 dict). */
function expectTaskMatches(decoded: DecodedTaskMessage, want: DecodedEnvelope): void {
  expect(decoded.properties).toEqual(want.properties);
  if (Array.isArray(want.body)) {
    expect(decoded.protocol).toBe(2);
    expect([decoded.args, decoded.kwargs, decoded.embed]).toEqual(want.body);
    // Every header Celery sent survives normalization unchanged.
    for (const [key, value] of Object.entries(want.headers)) expect(decoded.headers[key], key).toEqual(value);
    return;
  }
  const body = want.body as Record<string, unknown>;
  expect(decoded.protocol).toBe(1);
  expect(decoded.args).toEqual(body.args);
  expect(decoded.kwargs).toEqual(body.kwargs);
  expect(decoded.embed).toEqual({ callbacks: body.callbacks, errbacks: body.errbacks, chain: null, chord: body.chord });
  expect(decoded.headers).toMatchObject({
    task: body.task,
    id: body.id,
    eta: body.eta,
    expires: body.expires,
    group: body.taskset,
    group_index: body.group_index,
    retries: body.retries,
    timelimit: body.timelimit,
    root_id: body.id,
    parent_id: null,
  });
  for (const [key, value] of Object.entries(want.headers)) expect(decoded.headers[key], key).toEqual(value);
}

/** Our serializer reproduces the body bytes Celery wrote for the same values. */
function expectBodyReencodes(msg: TransportMessage): void {
  const compression = msg.headers.compression;
  const plain = typeof compression === 'string' ? decompress(compression, msg.body) : msg.body;
  const payload = decode(plain, msg.contentType, msg.contentEncoding, ACCEPT);
  const serializer = SERIALIZER_BY_TYPE[msg.contentType] as string;
  expect(encode(serializer, payload).body.toString('latin1')).toBe(plain.toString('latin1'));
}

describe('redis task messages', () => {
  it.each(fixturePaths('redis/task'))('%s', (path) => {
    const fixture = loadFixture(path);
    const msg = decodeEnvelope(fixture.raw as string);
    expectTaskMatches(decodeTaskMessage(msg, ACCEPT), fixture.decoded as DecodedEnvelope);
    expectBodyReencodes(msg);
  });
});

describe('redis result values', () => {
  it.each(fixturePaths('redis/result'))('%s', (path) => {
    const fixture = loadFixture(path);
    const msgpack = fixture.value_decoding?.[0] === 'msgpack';
    const value = msgpack
      ? decode(rawBytes(fixture), 'application/x-msgpack', 'binary', ACCEPT)
      : decode(rawBytes(fixture), 'application/json', 'utf-8', ACCEPT);
    expect(value).toEqual(fixture.decoded);
    if (msgpack) expect(encode('msgpack', value).body.equals(rawBytes(fixture))).toBe(true);
    else expectJsonReencodes(value, rawBytes(fixture));
  });
});

/** Events and remote-control messages: kombu envelopes with a JSON body (a list for task.multi). */
describe.each(['events', 'pidbox'])('%s messages', (dir) => {
  it.each(fixturePaths(dir))('%s', (path) => {
    const fixture = loadFixture(path);
    const want = fixture.decoded as DecodedEnvelope;
    const msg = decodeEnvelope(fixture.raw as string);
    expect(msg.contentType).toBe(want['content-type']);
    expect(msg.headers).toEqual(want.headers);
    expect(msg.properties).toEqual(want.properties);
    const body = decode(msg.body, msg.contentType, msg.contentEncoding, ACCEPT);
    expect(body).toEqual(want.body);
    expectJsonReencodes(body, msg.body);
  });
});

describe('redis kombu bookkeeping values', () => {
  it.each(fixturePaths('redis/kombu'))('%s', (path) => {
    const fixture = loadFixture(path);
    const raw = fixture.raw as string;
    if (path.includes('binding_')) {
      // A binding set member: routing key, pattern and queue joined by \x06\x16.
      const [routingKey, pattern, queue] = raw.split('\x06\x16');
      expect({ routing_key: routingKey, pattern, queue }).toEqual(fixture.decoded);
    } else if (path.includes('unacked_index_score')) {
      expect(Number(raw)).toBe(fixture.decoded);
    } else {
      // unacked hash value: [envelope, exchange, routing_key]
      const [envelope, exchange, routingKey] = JSON.parse(raw) as [unknown, string, string];
      const [wantEnvelope, wantExchange, wantRoutingKey] = fixture.decoded as [DecodedEnvelope, string, string];
      expect([exchange, routingKey]).toEqual([wantExchange, wantRoutingKey]);
      expectTaskMatches(decodeTaskMessage(decodeEnvelope(dumps(envelope)), ACCEPT), wantEnvelope);
    }
  });
});

describe('sqs message bodies', () => {
  it.each(fixturePaths('sqs'))('%s', (path) => {
    const fixture = loadFixture(path);
    const raw = fixture.raw as string;
    // With sqs_base64_encoding (the default) the whole envelope is base64 text in MessageBody.
    const envelopeText = raw.startsWith('{') ? raw : Buffer.from(raw, 'base64').toString('utf8');
    const msg = decodeEnvelope(envelopeText);
    expectTaskMatches(decodeTaskMessage(msg, ACCEPT), fixture.decoded as DecodedEnvelope);
    expectBodyReencodes(msg);
  });
});

describe('fixture coverage', () => {
  it('reads all 216 samples', () => {
    const dirs = ['redis/task', 'redis/result', 'redis/kombu', 'events', 'pidbox', 'sqs'];
    expect(dirs.flatMap((d) => fixturePaths(d))).toHaveLength(216);
  });
});
