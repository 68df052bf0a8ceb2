/**
 * Messages we build for the same call as a captured Celery 5.6 message have the same headers (set
 * and order), the same properties once in a kombu envelope, and the same body.
 */
import { describe, expect, it } from 'vitest';
import { decompress } from '../../src/protocol/compression.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/protocol/envelope.js';
import { buildTaskMessage, decodeTaskMessage, parseIsoDate } from '../../src/protocol/message.js';
import type { BuildTaskOptions } from '../../src/protocol/message.js';
import type { SignatureDict, TaskEmbed, TransportMessage } from '../../src/protocol/types.js';
import { loadFixture } from './fixture-files.js';

interface CapturedEnvelope {
  body: string;
  'content-type': string;
  'content-encoding': string;
  headers: Record<string, unknown>;
  properties: Record<string, unknown> & { delivery_info: { exchange: string; routing_key: string } };
}

const SERIALIZERS: Record<string, string> = {
  'application/json': 'json',
  'application/x-msgpack': 'msgpack',
  'application/x-yaml': 'yaml',
};

const CELERY_HEADERS = new Set([
  'lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index', 'retries', 'timelimit', 'root_id',
  'parent_id', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result', 'replaced_task_nesting', 'stamped_headers',
  'stamps', 'compression',
]);

/** The options a Celery client passed, recovered from its message. */
function optionsFromCapture(name: string, env: CapturedEnvelope, compression: string | null): BuildTaskOptions {
  const h = env.headers;
  const msg = decodeTaskMessage(decodeEnvelope(JSON.stringify(env)));
  const embed: TaskEmbed = msg.embed;
  const timelimit = h.timelimit as [number | null, number | null];
  const custom = Object.fromEntries(Object.entries(h).filter(([k]) => !CELERY_HEADERS.has(k)));
  return {
    taskName: h.task as string,
    id: h.id as string,
    args: msg.args,
    kwargs: msg.kwargs,
    eta: typeof h.eta === 'string' ? parseIsoDate(h.eta) : null,
    expires: typeof h.expires === 'string' ? parseIsoDate(h.expires) : null,
    expiresSeconds: name === 'apply_async_full' ? 60 : null,
    group: h.group as string | null,
    groupIndex: h.group_index as number | null,
    retries: h.retries as number,
    timeLimit: timelimit[0],
    softTimeLimit: timelimit[1],
    rootId: h.root_id as string,
    parentId: h.parent_id as string | null,
    shadow: h.shadow as string | null,
    origin: h.origin as string,
    ignoreResult: h.ignore_result as boolean,
    replyTo: env.properties.reply_to as string,
    priority: env.properties.priority as number,
    serializer: SERIALIZERS[env['content-type']],
    compression,
    headers: custom,
    callbacks: embed.callbacks as SignatureDict[] | null,
    errbacks: embed.errbacks,
    chain: embed.chain,
    chord: embed.chord,
  };
}

function envelopeOf(message: TransportMessage, captured: CapturedEnvelope): CapturedEnvelope {
  const info = captured.properties.delivery_info;
  return JSON.parse(
    encodeEnvelope(message, { exchange: info.exchange, routingKey: info.routing_key }),
  ) as CapturedEnvelope;
}

const CASES: [file: string, compression: string | null][] = [
  ['delay_add', null],
  ['kwargs_only', null],
  ['apply_async_full', null],
  ['unicode_args', null],
  ['serializer_msgpack', null],
  ['serializer_yaml', null],
  ['compression_zlib', 'zlib'],
  ['compression_bzip2', 'bzip2'],
  ['compression_brotli', 'brotli'],
  ['compression_lzma', 'lzma'],
];

describe.each(CASES)('built like redis/task/5.6.2/%s.json', (name, compression) => {
  const fixture = loadFixture(`redis/task/5.6.2/${name}.json`);
  const captured = JSON.parse(fixture.raw as string) as CapturedEnvelope;
  const built = buildTaskMessage(optionsFromCapture(name, captured, compression));
  const ours = envelopeOf(built, captured);

  it('has the same headers in the same order', () => {
    expect(Object.keys(ours.headers)).toEqual(Object.keys(captured.headers));
    for (const [key, value] of Object.entries(captured.headers)) {
      if (key === 'lang') expect(ours.headers.lang).toBe('js');
      else if ((key === 'eta' || key === 'expires') && typeof value === 'string') {
        // JS dates hold milliseconds: Celery's microseconds are cut to them.
        const delta = parseIsoDate(value).getTime() - parseIsoDate(ours.headers[key] as string).getTime();
        expect(delta).toBe(0);
        expect(ours.headers[key]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000\+00:00$/);
      } else expect(ours.headers[key], key).toEqual(value);
    }
  });

  it('has the same properties in the same order once enveloped', () => {
    expect(Object.keys(ours.properties)).toEqual(Object.keys(captured.properties));
    const { delivery_tag: _ours, ...ourProps } = ours.properties;
    const { delivery_tag: _theirs, ...theirProps } = captured.properties;
    expect(ourProps).toEqual(theirProps);
    expect(ours['content-type']).toBe(captured['content-type']);
    expect(ours['content-encoding']).toBe(captured['content-encoding']);
  });

  it('has a body that decodes to the same task', () => {
    const decoded = decodeTaskMessage(decodeEnvelope(JSON.stringify(ours)), ['json', 'msgpack', 'yaml']);
    expect([decoded.args, decoded.kwargs, decoded.embed]).toEqual((fixture.decoded as { body: unknown }).body);
  });

  it('serializes to the same bytes before compression', () => {
    const theirs = Buffer.from(captured.body, 'base64');
    const mime = captured.headers.compression as string | undefined;
    const plain = (body: Buffer): Buffer => (mime ? decompress(mime, body) : body);
    expect(plain(built.body).toString('latin1')).toBe(plain(theirs).toString('latin1'));
  });
});

describe('whole envelopes', () => {
  // With lang "py" and the captured eta text, only the random delivery tag differs from Celery's bytes.
  it.each(['delay_add', 'kwargs_only', 'apply_async_full', 'unicode_args', 'serializer_msgpack', 'serializer_yaml'])(
    '%s is byte-identical to Celery 5.6 apart from delivery_tag',
    (name) => {
      const fixture = loadFixture(`redis/task/5.6.2/${name}.json`);
      const captured = JSON.parse(fixture.raw as string) as CapturedEnvelope;
      const options = optionsFromCapture(name, captured, null);
      const message = buildTaskMessage({
        ...options,
        lang: 'py',
        eta: captured.headers.eta as string | null,
        expires: captured.headers.expires as string | null,
      });
      const info = captured.properties.delivery_info;
      const text = encodeEnvelope(message, { exchange: info.exchange, routingKey: info.routing_key });
      const tag = captured.properties.delivery_tag as string;
      expect(text.replace(/"delivery_tag": "[^"]+"/, `"delivery_tag": "${tag}"`)).toBe(fixture.raw);
    },
  );
});
