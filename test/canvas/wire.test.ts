/**
 * Canvas messages compared with real ones captured from Celery 5.2.6 (/work/shared/celery-wire):
 * the `chain` field of a chain's first message, the `chord` field of header tasks, group members,
 * and `celery.chord_unlock`, JSON for JSON; and `signature(dict)` round-trips Celery's dicts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import type { Delivery } from '../../src/brokers/types.js';
import { chain, chord, group, signature } from '../../src/canvas/index.js';
import { decodeTaskMessage } from '../../src/protocol/message.js';
import type { DecodedTaskMessage, SignatureDict } from '../../src/protocol/types.js';
import { waitFor } from '../helpers/wait.js';

const WIRE = '/work/shared/celery-wire/redis/task/5.2.6';
const captured = (name: string) => JSON.parse(readFileSync(`${WIRE}/${name}.json`, 'utf8')) as { decoded: { headers: Record<string, unknown>; body: [unknown[], Record<string, unknown>, Record<string, unknown>] } };

describe.skipIf(!existsSync(WIRE))('canvas messages match Celery 5.2.6', () => {
  let app: Celery;
  let received: DecodedTaskMessage[];

  beforeEach(async () => {
    const name = Math.random().toString(36).slice(2);
    app = new Celery('wire', { broker: `memory://${name}`, backend: `memory://${name}`, logLevel: 'silent' }, { env: {} });
    received = [];
    const broker = await app.connectBroker();
    await app.ensureQueue('celery');
    await broker.consume(['celery'], (d: Delivery) => {
      received.push(decodeTaskMessage(d.message, ['json']));
      void d.ack();
    }, { prefetch: 0 });
  });

  afterEach(async () => {
    await app.close();
  });

  const add = () => app.task('proj.tasks.add', (x: number, y: number) => x + y);
  const tsum = () => app.task('proj.tasks.tsum', (nums: number[]) => nums.reduce((a, b) => a + b, 0));

  it('chain(add.s(1, 2), add.s(3), add.s(4)): the first message carries the rest, reversed', async () => {
    const sample = captured('chain').decoded;
    const expected = sample.body[2].chain as SignatureDict[];
    const [step4, step3] = expected;
    const a = add();
    const c = chain(
      a.s(1, 2),
      a.s(3).set({ taskId: step3!.options.task_id as string, replyTo: step3!.options.reply_to }),
      a.s(4).set({ taskId: step4!.options.task_id as string, replyTo: step4!.options.reply_to }),
    );
    const result = await c.delay();
    await waitFor(() => received.length === 1);
    const message = received[0]!;
    expect([message.args, message.kwargs]).toEqual([sample.body[0], sample.body[1]]);
    expect(JSON.parse(JSON.stringify(message.embed))).toEqual(sample.body[2]);
    expect(message.headers).toMatchObject({ group: null, group_index: null, parent_id: null, root_id: message.headers.id });
    expect(result.id).toBe(step4!.options.task_id);
  });

  it('chord header tasks carry the body; members get group and group_index; chord_unlock as Celery sends it', async () => {
    const sample = captured('chord_header_0').decoded;
    const body = sample.body[2].chord as SignatureDict;
    const a = add();
    const res = await chord([a.s(1, 2), a.s(3, 4)], tsum().s().set({ taskId: body.options.task_id as string, replyTo: body.options.reply_to })).delay();
    await waitFor(() => received.length === 2);
    const headers = received.filter((m) => m.headers.task === 'proj.tasks.add');
    expect(headers.map((m) => m.args)).toEqual([[1, 2], [3, 4]]);
    for (const [i, m] of headers.entries()) {
      expect(JSON.parse(JSON.stringify(m.embed))).toEqual(sample.body[2]);
      expect(m.headers.group_index).toBe(i);
      expect(m.headers.group).toBe(headers[0]!.headers.group);
    }
    expect(res.id).toBe(body.options.task_id);
    // No native join in memory: celery.chord_unlock, one second later, shaped as captured.
    await waitFor(() => received.length === 3, 5000, 'chord_unlock');
    const unlock = received[2]!;
    const unlockSample = captured('chord_unlock').decoded;
    expect(unlock.headers.task).toBe('celery.chord_unlock');
    expect(unlock.headers.eta).not.toBeNull();
    expect(unlock.args).toEqual([headers[0]!.headers.group, body]);
    expect(Object.keys(unlock.kwargs)).toEqual(Object.keys(unlockSample.body[1]));
    expect(unlock.kwargs).toEqual({ interval: null, max_retries: null, result: headers.map((m) => [[m.headers.id, null], null]) });
  });

  it('group(add.s(1, 2), add.s(3, 4), add.s(5, 6)): members share the group id, group_index null', async () => {
    const sample = captured('group3_0').decoded;
    const a = add();
    const res = await group(a.s(1, 2), a.s(3, 4), a.s(5, 6)).delay();
    await waitFor(() => received.length === 3);
    for (const m of received) {
      expect(JSON.parse(JSON.stringify(m.embed))).toEqual(sample.body[2]);
      expect(m.headers).toMatchObject({ group: res.id, group_index: sample.headers.group_index, parent_id: null, root_id: m.headers.id });
    }
    expect(res.results.map((r) => r.id)).toEqual(received.map((m) => m.headers.id));
  });

  it('signature(dict) rebuilds Celery dicts to the same JSON', () => {
    const dicts = [
      ...(captured('chain').decoded.body[2].chain as SignatureDict[]),
      captured('chord_header_0').decoded.body[2].chord as SignatureDict,
      captured('chord_body_link_error_header_0').decoded.body[2].chord as SignatureDict,
    ];
    for (const d of dicts) expect(signature(d, app).toDict()).toEqual(d);
    const nested = { task: 'celery.chord', args: [], kwargs: { kwargs: {}, header: [dicts[0]!, dicts[1]!], body: { task: 'celery.chain', args: [], kwargs: { tasks: [dicts[2]!, dicts[3]!] }, options: {}, subtask_type: 'chain', immutable: false } }, options: {}, subtask_type: 'chord', immutable: false };
    expect(signature(nested as SignatureDict, app).toDict()).toEqual(nested);
  });
});
