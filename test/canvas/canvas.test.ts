/**
 * Behaviours of Celery's t/integration/test_canvas.py, ported: a producer app and a worker app (as
 * two processes would have) on the in-memory, embedded SQLite and Redis brokers and backends. On
 * Redis chords join natively (`.j/.s/.t`); elsewhere through `celery.chord_unlock`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import { currentTask } from '../../src/app/context.js';
import type { AsyncResult } from '../../src/app/result.js';
import type { Signature } from '../../src/canvas/index.js';
import { chain, chord, group, GroupResult, signature } from '../../src/canvas/index.js';
import type { Worker } from '../../src/worker/worker.js';
import { waitFor } from '../helpers/wait.js';

const setups: [string, () => { broker: string; backend: string; brokerTransportOptions?: Record<string, unknown> }][] = [
  ['memory', () => {
    const name = Math.random().toString(36).slice(2);
    return { broker: `memory://${name}`, backend: `memory://${name}` };
  }],
  ['sqlite', () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-canvas-'));
    dirs.push(dir);
    return { broker: `sqlite:///${dir}/broker.db`, backend: `sqlite:///${dir}/results.db` };
  }],
  ['redis', () => ({
    broker: process.env.CELERIAC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
    backend: process.env.CELERIAC_TEST_REDIS_BACKEND_URL ?? 'redis://127.0.0.1:6379/1',
    brokerTransportOptions: { globalKeyprefix: `canvas-${Math.random().toString(36).slice(2, 10)}:` },
  })],
];
const dirs: string[] = [];
const T = { timeout: 15_000 };

class ExpectedException extends Error {
  override name = 'ExpectedException';
}

/** The tasks of Celery's t/integration/tasks.py that these tests use. */
function defineTasks(app: Celery, echoes: string[] = [], errbackCalls: unknown[][] = []) {
  return {
    add: app.task('t.add', (x: number, y: number) => x + y),
    mul: app.task('t.mul', (x: number, y: number) => x * y),
    identity: app.task('t.identity', <T>(x: T) => x),
    tsum: app.task('t.tsum', (nums: number[]) => nums.reduce((a, b) => a + b, 0)),
    xsum: app.task('t.xsum', (nums: number[]) => nums.flat().reduce((a: number, b: number) => a + b, 0)),
    addToAll: app.task('t.add_to_all', (nums: unknown[], val: unknown) => nums.map((n) => [...(n as unknown[]), val])),
    addList: app.task('t.add_list', (x: unknown[], y: unknown[]) => [...x, ...y]),
    fail: app.task('t.fail', (..._args: unknown[]): number => {
      throw new ExpectedException('Task expected to fail');
    }),
    ids: app.task('t.ids', (i: number) => {
      const t = currentTask();
      return [t?.rootId ?? null, t?.parentId ?? null, i] as [string | null, string | null, number];
    }),
    echo: app.task('t.redis_echo', (message: string) => {
      echoes.push(message);
      return message;
    }),
    /** Old-style errback: receives the failed task's id. */
    errbackOld: app.task('t.errback_old_style', (requestId: string) => {
      errbackCalls.push(['old', requestId]);
      return requestId;
    }),
    /** New-style errback: called in the worker with (request, exc, traceback). */
    errbackNew: app.task('t.errback_new_style', (request: { id: string }, exc: Error, _tb: unknown) => {
      errbackCalls.push(['new', request.id, exc.message]);
      return request.id;
    }),
  };
}

describe.each(setups)('canvas on %s', (backendName, makeSetup) => {
  let producer: Celery;
  let workerApp: Celery;
  let worker: Worker;
  let t: ReturnType<typeof defineTasks>;
  let echoes: string[];
  let errbackCalls: unknown[][];

  beforeEach(async () => {
    const setup = makeSetup();
    echoes = [];
    errbackCalls = [];
    producer = new Celery('producer', { ...setup, logLevel: 'silent' }, { env: {} });
    workerApp = new Celery('worker', { ...setup, logLevel: 'silent' }, { env: {} });
    t = defineTasks(producer);
    defineTasks(workerApp, echoes, errbackCalls);
    worker = workerApp.worker({ concurrency: 4, hostname: 'canvas@test' });
    await worker.start();
  });

  afterEach(async () => {
    await worker.close();
    await producer.close();
    await workerApp.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  describe('chain', () => {
    it('test_simple_chain: add.s(4, 4) | add.s(8) | add.s(16) gives 32', async () => {
      const c = t.add.s(4, 4).pipe(t.add.s(8)).pipe(t.add.s(16));
      const res = await c.delay();
      expect(await res.get(T)).toBe(32);
    });

    it('chain(add.s(2, 2), add.s(4), add.s(8)) gives 16, and parents lead back to the first step', async () => {
      const res = await chain(t.add.s(2, 2), t.add.s(4), t.add.s(8)).applyAsync();
      const value: number = await res.get(T);
      expect(value).toBe(16);
      expect(await (res.parent as AsyncResult).get(T)).toBe(8);
      expect(await (res.parent!.parent as AsyncResult).get(T)).toBe(4);
      expect(res.parent!.parent!.parent).toBeNull();
    });

    it('test_complex_chain: nested chains are spliced and a final group gets the result', async () => {
      const g = group([0, 1, 2, 3].map((i) => t.add.s(i)));
      const c = chain(t.add.s(2, 2), chain(t.add.s(4), t.add.s(8), t.add.s(16), t.add.s(32)), g);
      const res = await c.delay();
      expect(await res.get(T)).toEqual([64, 65, 66, 67]);
    });

    it('test_chain_on_error: the failure reaches the chain result and its parent; later steps are FAILURE', async () => {
      const res = await chain(t.add.s(1, 2), t.fail.s(), t.add.si(3, 4)).delay();
      await expect(res.get(T)).rejects.toMatchObject({ excType: 'ExpectedException' });
      await expect((res.parent as AsyncResult).get(T)).rejects.toMatchObject({ excType: 'ExpectedException' });
      expect(await res.state).toBe('FAILURE');
    });

    it('test_parent_ids: root_id and parent_id propagate along the chain', async () => {
      const c = chain(Array.from({ length: 10 }, (_, i) => t.ids.si(i)));
      const res = (await c.delay()) as AsyncResult<[string, string | null, number]>;
      await res.get(T);
      let root: AsyncResult | GroupResult = res;
      while (root.parent) root = root.parent;
      let node: AsyncResult | null = res;
      let i = 9;
      while (node) {
        const [rootId, parentId, value] = (await node.get(T)) as [string, string | null, number];
        expect(rootId).toBe(root.id);
        expect(value).toBe(i);
        if (node.parent) expect(parentId).toBe(node.parent.id);
        else expect(parentId).toBeNull();
        node = node.parent as AsyncResult | null;
        i--;
      }
      expect(i).toBe(-1);
    });

    it('test_nested_chain_group_mid: a group in the middle becomes a chord', async () => {
      const res = await chain(t.identity.s(42), group(t.identity.s(), t.identity.s()), t.identity.s()).delay();
      expect(await res.get(T)).toEqual([42, 42]);
    });

    it('test_nested_chain_group_last and _lone: a final (or only) group returns its results', async () => {
      const res = await chain(t.identity.s(42), group(t.identity.s(), t.identity.s())).delay();
      expect(await res.get(T)).toEqual([42, 42]);
      const lone = await chain(group(t.identity.s(42), t.identity.s(42))).delay();
      expect(await lone.get(T)).toEqual([42, 42]);
    });

    it('test_chain_inside_group_receives_arguments', async () => {
      const res = await chain(t.add.s(5, 6), group(t.add.s(1).pipe(t.add.s(2)), t.add.s(3))).delay();
      expect(await res.get(T)).toEqual([14, 14]);
    });

    it('test_group_in_center_of_chain: chords of chains of groups', async () => {
      const t1 = chain(t.tsum.s(), group(t.add.s(8), t.add.s(16)), t.tsum.s().pipe(t.add.s(32)));
      const t2 = chord([t.tsum.s(), t.tsum.s()], t1);
      const t3 = chord([t.add.s(0, 1)], t2);
      const res = await t3.applyAsync();
      expect(await res.get(T)).toBe(60);
    });
  });

  describe('group', () => {
    it('test_parent_ids: members share the root and parent of the chain before them', async () => {
      const g = chain(t.ids.si(1), t.ids.si(2), group(Array.from({ length: 10 }, (_, i) => t.ids.si(i + 2))));
      const res = (await g.delay()) as unknown as GroupResult<[string, string, number][]>;
      const expectedRoot = res.parent!.parent!.id;
      const expectedParent = res.parent!.id;
      const values = await res.get(T);
      values.forEach(([rootId, parentId, value], i) => {
        expect(rootId).toBe(expectedRoot);
        expect(parentId).toBe(expectedParent);
        expect(value).toBe(i + 2);
      });
    });

    it('test_nested_group: nested groups are unrolled, results in order', async () => {
      const c = group(t.add.si(1, 10), group(t.add.si(1, 100), group(t.add.si(1, 1000), t.add.si(1, 2000))));
      const res = await c.delay();
      expect(await res.get(T)).toEqual([11, 101, 1001, 2001]);
    });

    it('test_large_group: 1000 members in order', async () => {
      const res = await group(Array.from({ length: 1000 }, (_, i) => t.identity.s(i))).delay();
      expect(await res.get({ timeout: 60_000 })).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    }, 90_000);

    it('GroupResult: counts, states, save/restore by id, and iteration as members complete', async () => {
      const res = await group(t.add.s(1, 1), t.add.s(2, 2), t.fail.s()).delay();
      const seen: string[] = [];
      for await (const member of res) seen.push(member.id);
      expect(seen.sort()).toEqual(res.results.map((r) => r.id).sort());
      expect(await res.ready()).toBe(true);
      expect(await res.completedCount()).toBe(2);
      expect(await res.successful()).toBe(false);
      expect(await res.failed()).toBe(true);
      await expect(res.join(T)).rejects.toMatchObject({ excType: 'ExpectedException' });
      expect(await res.join({ ...T, propagate: false })).toEqual([2, 4, expect.objectContaining({ excType: 'ExpectedException' })]);
      await res.save();
      const restored = await GroupResult.restore(producer, res.id);
      expect(restored?.results.map((r) => r.id)).toEqual(res.results.map((r) => r.id));
      await restored!.delete();
      expect(await GroupResult.restore(producer, res.id)).toBeNull();
    });

    it.each([
      ['fail_first', (f: Signature, ok: Signature) => [f, ok]],
      ['fail_last', (f: Signature, ok: Signature) => [ok, f]],
    ])('test_errback_called_by_group_%s', async (_n, order) => {
      const marker = `errback-${Math.random()}`;
      const g = group(order(t.fail.s(), t.identity.si(42)));
      g.linkError(t.echo.si(marker));
      const res = await g.delay();
      await expect(res.get(T)).rejects.toMatchObject({ excType: 'ExpectedException' });
      await waitFor(() => echoes.includes(marker), 10_000, 'errback ran');
    });

    it('test_errback_called_by_group_fail_multiple: once per failed member', async () => {
      const g = group(t.identity.si(1), t.fail.s(), t.fail.s(), t.fail.s());
      g.linkError(t.echo.si('multi'));
      const res = await g.delay();
      await expect(res.get(T)).rejects.toThrow();
      await waitFor(() => echoes.filter((e) => e === 'multi').length === 3, 10_000, 'three errbacks');
    });

    it('errbacks: a one-argument errback is sent with the failed id; a three-argument one runs in the worker', async () => {
      const sig = t.fail.s();
      sig.linkError(t.errbackOld.s());
      sig.linkError(t.errbackNew.s());
      const res = await sig.delay();
      await expect(res.get(T)).rejects.toThrow();
      await waitFor(() => errbackCalls.length === 2, 10_000, 'both errbacks');
      expect(errbackCalls).toContainEqual(['old', res.id]);
      expect(errbackCalls).toContainEqual(['new', res.id, 'Task expected to fail']);
    });
  });

  describe('chord', () => {
    it('test_chord_order: results in header order', async () => {
      const inputs = Array.from({ length: 10 }, (_, i) => i);
      const res = await chord(inputs.map((i) => t.identity.si(i)), t.identity.s()).delay();
      expect(await res.get(T)).toEqual(inputs);
    });

    it('chord of 100 adds with xsum gives 9900', async () => {
      const res = await chord(Array.from({ length: 100 }, (_, i) => t.add.s(i, i)), t.xsum.s()).delay();
      expect(await res.get({ timeout: 30_000 })).toBe(9900);
    }, 40_000);

    it('test_empty_header_chord: the body runs with []', async () => {
      const res1 = await chord([], t.addToAll.s(9)).delay();
      expect(await res1.get(T)).toEqual([]);
      const res2 = await group([]).pipe(t.addToAll.s(9)).delay();
      expect(await res2.get(T)).toEqual([]);
    });

    it('test_nested_chord: chords of chords, and group | task upgrades', async () => {
      const c1 = chord([chord([t.add.s(1, 2), t.add.s(3, 4)], t.addList.s([5])), chord([t.add.s(6, 7)], t.addList.s([10]))], t.addToAll.s('A'));
      const res1 = await c1.delay();
      expect(await res1.get(T)).toEqual([[3, 7, 5, 'A'], [13, 10, 'A']]);
      const c2 = group(group(t.add.s(1, 2), t.add.s(3, 4)).pipe(t.addList.s([5])), group(t.add.s(6, 7)).pipe(t.addList.s([10]))).pipe(t.addToAll.s('A'));
      const res2 = await c2.delay();
      expect(await res2.get(T)).toEqual([[3, 7, 5, 'A'], [13, 10, 'A']]);
    });

    it('test_parallel_chords: a group of two chords', async () => {
      const c1 = chord(group(t.add.s(1, 2), t.add.s(3, 4)), t.tsum.s());
      const c2 = chord(group(t.add.s(1, 2), t.add.s(3, 4)), t.tsum.s());
      const res = await group(c1, c2).delay();
      expect(await res.get(T)).toEqual([10, 10]);
    });

    it('a chain in a chord header counts once, by its last step', async () => {
      const res = await chord([chain(t.add.s(1, 1), t.add.s(10)), t.add.s(2, 2)], t.tsum.s()).delay();
      expect(await res.get(T)).toBe(16);
    });

    it('a chord in a chain gets the previous result in its header and passes its result on', async () => {
      const res = await chain(t.add.s(1, 1), chord([t.add.s(1), t.add.s(2)], t.tsum.s()), t.mul.s(10)).delay();
      expect(await res.get(T)).toBe(70);
    });

    it('test_chord_on_error / test_error_propagates_to_chord_from_simple: ChordError within seconds', async () => {
      const started = Date.now();
      const body = t.identity.s().onError(t.errbackOld.s());
      const res = await chord([t.add.s(1, 2), t.add.s(3, 4), t.fail.s()], body).delay();
      const error = await res.get(T).catch((e: unknown) => e);
      expect(error).toMatchObject({ excType: 'ChordError', excModule: 'celery.exceptions' });
      expect(String((error as Error).message)).toMatch(/Dependency [0-9a-f-]{36} raised ExpectedException\('Task expected to fail'\)/);
      expect(Date.now() - started).toBeLessThan(10_000);
      // The body's errback is sent with the body's id (an old-style errback).
      await waitFor(() => errbackCalls.some((c) => c[0] === 'old' && c[1] === res.id), 10_000, 'body errback');
    });

    it('a header task no worker has registered fails the chord (NotRegistered) instead of leaving it waiting', async () => {
      const unknown = signature({ task: 't.not_registered', args: [], kwargs: {}, options: {}, subtask_type: null, immutable: false }, producer);
      const res = await chord([t.add.s(1, 2), unknown], t.identity.s()).delay();
      const error = await res.get(T).catch((e: unknown) => e);
      expect(error).toMatchObject({ excType: 'ChordError' });
      expect(String((error as Error).message)).toMatch(/NotRegistered/);
    });

    it('test_error_propagates_to_chord_from_chain: a failing chain in the header fails the chord', async () => {
      const res = await chord([chain(t.identity.si(42), t.fail.s(), t.identity.si(42))], t.identity.s()).delay();
      await expect(res.get(T)).rejects.toMatchObject({ excType: 'ChordError' });
    });

    it('test_error_propagates_to_chord_from_chain_tail', async () => {
      const res = await chord([chain(t.identity.si(42), t.fail.s())], t.identity.s()).delay();
      await expect(res.get(T)).rejects.toMatchObject({ excType: 'ChordError' });
    });

    it('test_error_propagates_to_chord_from_group', async () => {
      const res = await chord([group(t.identity.si(42), t.fail.s())], t.identity.s()).delay();
      await expect(res.get(T)).rejects.toMatchObject({ excType: 'ChordError' });
    });

    it.each([
      ['simple', (tk: ReturnType<typeof defineTasks>) => [tk.fail.s()]],
      ['chain', (tk: ReturnType<typeof defineTasks>) => [chain(tk.identity.si(42), tk.fail.s(), tk.identity.si(42))]],
      ['group', (tk: ReturnType<typeof defineTasks>) => [group(tk.identity.si(42), tk.fail.s())]],
    ])('test_immutable_errback_called_by_chord_from_%s', async (_n, header) => {
      const marker = `chord-errback-${Math.random()}`;
      const body = t.identity.s().onError(t.echo.si(marker));
      const res = await chord(header(t), body).delay();
      await expect(res.get(T)).rejects.toMatchObject({ excType: 'ChordError' });
      await waitFor(() => echoes.includes(marker), 10_000, 'errback ran once');
    });

    it('a chord whose body is a chain fails every step of the body when the header fails', async () => {
      const res = await chord([t.fail.s()], chain(t.tsum.s(), t.add.s(1))).delay();
      await expect(res.get(T)).rejects.toMatchObject({ excType: 'ChordError' });
    });

    it('test_large_header: 1000 header tasks', async () => {
      const res = await chord(Array.from({ length: 1000 }, (_, i) => t.identity.si(i)), t.tsum.s() as Signature<number, unknown>).delay();
      expect(await res.get({ timeout: 60_000 })).toBe(499500);
    }, 90_000);
  });

  describe('map, starmap, chunks', () => {
    it('map runs the task per item in one message; starmap and chunks spread argument lists', async () => {
      expect(await (await t.identity.map([1, 2, 3]).delay()).get(T)).toEqual([1, 2, 3]);
      expect(await (await t.add.starmap([[1, 2], [3, 4]]).delay()).get(T)).toEqual([3, 7]);
      const res = await t.add.chunks(Array.from({ length: 10 }, (_, i) => [i, i] as [number, number]), 3).delay();
      expect(await res.get(T)).toEqual([[0, 2, 4], [6, 8, 10], [12, 14, 16], [18]]);
    });
  });

  describe('signatures rebuilt from their dict form (test_rebuild_nested_*)', () => {
    const kinds = {
      chain: (tk: ReturnType<typeof defineTasks>) => chain(tk.add.s(1, 1), tk.add.s(1)),
      group: (tk: ReturnType<typeof defineTasks>) => group(tk.add.s(1, 1), tk.add.s(2, 2)),
      chord: (tk: ReturnType<typeof defineTasks>) => chord([tk.add.s(1, 1), tk.add.s(2, 2)], tk.tsum.s()),
    };
    const expected: Record<string, Record<string, unknown>> = {
      chain: { chain: 3, group: [2, 4], chord: 6 },
      group: { chain: [3, 3], group: [2, 4, 2, 4], chord: [6, 6] },
      chord: { chain: 6, group: 12, chord: 12 },
    };
    for (const outer of ['chain', 'group', 'chord'] as const) {
      for (const inner of ['chain', 'group', 'chord'] as const) {
        it(`test_rebuild_nested_${outer}_${inner}`, async () => {
          const make = () => kinds[inner](t) as Signature;
          const sig =
            outer === 'chain'
              ? chain(make(), t.identity.s())
              : outer === 'group'
                ? group(make(), make())
                : chord([make(), make()], (inner === 'group' ? t.xsum.s() : t.tsum.s()) as Signature<number, unknown>);
          const rebuilt = signature(JSON.parse(JSON.stringify(sig)) as never, producer);
          expect(rebuilt.constructor).toBe(sig.constructor);
          expect(rebuilt.toDict()).toEqual(sig.toDict());
          const res = (await rebuilt.delay()) as AsyncResult;
          expect(await res.get(T)).toEqual(expected[outer]![inner]);
        });
      }
    }
  });

  it(`the chord join uses ${backendName === 'redis' ? 'Redis .j/.s/.t keys' : 'celery.chord_unlock'}`, async () => {
    const res = await chord([t.add.s(1, 1), t.add.s(2, 2)], t.tsum.s()).delay();
    expect(await res.get(T)).toBe(6);
    if (backendName !== 'redis') expect(worker.app.taskNames).toContain('celery.chord_unlock');
  });
});
