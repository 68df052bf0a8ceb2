/**
 * The result-backend conformance suite, run against every backend. Result shapes come from Celery
 * 5.6.2 captures (test/fixtures/celery-wire/redis/result), so what we store is what Python stores.
 * Each test uses fresh ids, so one backend URL serves a whole file.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FULL_BACKEND_CAPABILITIES, type ResultBackend, type ResultBackendCapabilities, type ResultMeta } from '../../src/backends/types.js';
import { TimeoutError } from '../../src/errors.js';
import { holdsFor, waitFor, within } from '../helpers/wait.js';

export type BackendFactoryOptions = {
  resultExpires?: number | null;
};

export type MakeBackend = (options?: BackendFactoryOptions) => Promise<ResultBackend>;

export interface BackendConformanceOptions {
  /** The stored text under `key`, for checking the exact wire format; tests needing it skip without. */
  rawGet?: (backend: ResultBackend, key: string) => Promise<string | null>;
  /** The store expires keys itself (Redis TTL), so `cleanup()` has nothing left to remove. */
  nativeExpiry?: boolean;
}

interface Fixture {
  file: string;
  redis_key: string;
  raw: string;
  decoded: unknown;
  value_decoding: string[];
}

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'celery-wire', 'redis', 'result', '5.6.2');

function fixtures(): Fixture[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .map((file) => ({ file, ...(JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Omit<Fixture, 'file'>) }))
    .filter((f) => f.value_decoding.join() === 'json');
}

/** A task-meta fixture re-keyed to a fresh id (so fixtures sharing an id do not collide). */
function taskFixtures(): { file: string; id: string; meta: ResultMeta; raw: string }[] {
  return fixtures()
    .filter((f) => f.redis_key.startsWith('celery-task-meta-'))
    .map((f) => {
      const old = f.redis_key.slice('celery-task-meta-'.length);
      const id = randomUUID();
      return {
        file: f.file,
        id,
        meta: JSON.parse(JSON.stringify(f.decoded).split(old).join(id)) as ResultMeta,
        raw: f.raw.split(old).join(id),
      };
    });
}

const meta = (taskId: string, status: string, result: unknown = null): ResultMeta => ({
  status,
  result,
  traceback: null,
  children: [],
  date_done: status === 'SUCCESS' || status === 'FAILURE' ? new Date().toISOString() : null,
  task_id: taskId,
});

const caps = (backend: ResultBackend): ResultBackendCapabilities => ({ ...FULL_BACKEND_CAPABILITIES, ...backend.capabilities });

/** The fields Celery's rpc backend sends (`RPCBackend._to_result`). */
const RPC_FIELDS = ['task_id', 'status', 'result', 'traceback', 'children'] as const;
const pick = (meta: ResultMeta): Record<string, unknown> => Object.fromEntries(RPC_FIELDS.map((k) => [k, meta[k]]));

export function backendConformance(name: string, makeBackend: MakeBackend, options: BackendConformanceOptions = {}): void {
  const open: ResultBackend[] = [];
  const make = async (factoryOptions?: BackendFactoryOptions): Promise<ResultBackend> => {
    const backend = await makeBackend(factoryOptions);
    open.push(backend);
    return backend;
  };

  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });

  describe(`result backend conformance: ${name}`, () => {
    it('stores and reads back every captured Celery result shape, byte for byte', async () => {
      const backend = await make();
      const cases = taskFixtures();
      expect(cases.length).toBeGreaterThan(20);
      for (const c of cases) {
        await backend.storeResult(c.meta);
        if (!caps(backend).extendedMeta) {
          // rpc:// carries Celery's rpc fields only; those must come back exactly.
          expect(pick(await backend.getTaskMeta(c.id)), c.file).toEqual(pick(c.meta));
          continue;
        }
        expect(await backend.getTaskMeta(c.id), c.file).toEqual(c.meta);
        if (options.rawGet) expect(await options.rawGet(backend, `celery-task-meta-${c.id}`), c.file).toBe(c.raw);
      }
    });

    it('reports an unknown id as PENDING', async () => {
      const backend = await make();
      const id = randomUUID();
      expect(await backend.getTaskMeta(id)).toEqual({
        status: 'PENDING',
        result: null,
        traceback: null,
        children: [],
        date_done: null,
        task_id: id,
      });
    });

    it('never overwrites a stored SUCCESS', async () => {
      const backend = await make();
      const id = randomUUID();
      await backend.storeResult(meta(id, 'STARTED', { pid: 1 }));
      await backend.storeResult(meta(id, 'SUCCESS', 42));
      await backend.storeResult(meta(id, 'FAILURE', { exc_type: 'ValueError', exc_message: ['late'], exc_module: 'builtins' }));
      await backend.storeResult(meta(id, 'STARTED'));
      expect(await backend.getTaskMeta(id)).toMatchObject({ status: 'SUCCESS', result: 42 });
      const other = randomUUID();
      await backend.storeResult(meta(other, 'RETRY'));
      await backend.storeResult(meta(other, 'FAILURE'));
      expect((await backend.getTaskMeta(other)).status).toBe('FAILURE');
    });

    it('keeps durable revocations that every instance on the URL reads, trimming old ones', async () => {
      const writer = await make();
      const a = randomUUID() as string;
      const b = randomUUID() as string;
      const old = randomUUID() as string;
      const now = Date.now();
      // Not every store can keep them (rpc, stores without scored sets): those say so with false.
      if (!(await writer.recordRevocations?.([{ id: old, terminate: false, signal: 'SIGTERM', at: now - 60_000 }], 3600))) return;
      const reader = await make();
      expect(await writer.recordRevocations!([
        { id: a, terminate: false, signal: 'SIGTERM', at: now },
        { id: b, terminate: true, signal: 'SIGKILL', at: now + 1 },
      ], 30)).toBe(true); // keeping 30 s trims the one revoked a minute ago
      const mine = (await reader.revocationsSince!(now - 120_000))!.filter((r) => [a, b, old].includes(r.id));
      expect(mine).toEqual([
        { id: a, terminate: false, signal: 'SIGTERM', at: now },
        { id: b, terminate: true, signal: 'SIGKILL', at: now + 1 },
      ]);
      const later = (await reader.revocationsSince!(now + 1))!.map((r) => r.id);
      expect(later).toContain(b);
      expect(later).not.toContain(a);
    });

    it('forgets a result', async () => {
      const backend = await make();
      const id = randomUUID();
      await backend.storeResult(meta(id, 'SUCCESS', 1));
      await backend.forget(id);
      expect((await backend.getTaskMeta(id)).status).toBe('PENDING');
      await backend.forget(randomUUID()); // unknown: no error
    });

    it('saves, restores and deletes groups in Celery’s exact format', async ({ skip }) => {
      const backend = await make();
      if (!caps(backend).groups) skip();
      const saved = fixtures().find((f) => f.file === 'groupresult_saved.json') as Fixture;
      const gid = saved.redis_key.slice('celery-taskset-meta-'.length);
      const ids = ((saved.decoded as { result: [unknown, [[string, null], null][]] }).result[1]).map((m) => m[0][0]);
      await backend.saveGroup(gid, ids);
      expect(await backend.restoreGroup(gid)).toEqual(ids);
      if (options.rawGet) expect(await options.rawGet(backend, saved.redis_key)).toBe(saved.raw);
      await backend.deleteGroup(gid);
      expect(await backend.restoreGroup(gid)).toBeNull();
      expect(await backend.restoreGroup(randomUUID())).toBeNull();
    });

    it('expires results after resultExpires and cleans them up', async ({ skip }) => {
      const backend = await make({ resultExpires: 0.2 });
      if (!caps(backend).expiry) skip();
      const [unread, probe] = [randomUUID(), randomUUID()];
      await backend.storeResult(meta(unread, 'SUCCESS', 1));
      await backend.storeResult(meta(probe, 'SUCCESS', 2));
      expect((await backend.getTaskMeta(probe)).status).toBe('SUCCESS');
      await waitFor(async () => (await backend.getTaskMeta(probe)).status === 'PENDING', 5000, 'expiry');
      // `unread` was never touched since it expired: only a sweeping store still holds it.
      expect(await backend.cleanup()).toBeGreaterThanOrEqual(options.nativeExpiry ? 0 : 1);
      expect((await backend.getTaskMeta(unread)).status).toBe('PENDING');
      const keeper = await make({ resultExpires: null });
      const kept = randomUUID();
      await keeper.storeResult(meta(kept, 'SUCCESS', 3));
      await holdsFor(async () => (await keeper.getTaskMeta(kept)).status === 'SUCCESS', 300, 'no expiry with null');
    });
  });

  describe(`result backend conformance: ${name}: waiting`, () => {
    it('resolves at once for a result that is already ready', async () => {
      const backend = await make();
      const id = randomUUID();
      await backend.storeResult(meta(id, 'FAILURE', { exc_type: 'ValueError', exc_message: ['x'], exc_module: 'builtins' }));
      expect((await within(backend.waitForResult(id, { timeout: 2000 }), 1000, 'wait')).status).toBe('FAILURE');
    });

    it('resolves when another instance on the same URL stores a ready state later', async ({ skip }) => {
      const [waiter, writer] = [await make(), await make()];
      if (!caps(waiter).sharedResults) skip();
      const id = randomUUID();
      let settled = false;
      const waiting = waiter.waitForResult(id, { timeout: 10_000 }).finally(() => (settled = true));
      await writer.storeResult(meta(id, 'STARTED', { pid: 1 }));
      await holdsFor(() => !settled, 150, 'not resolved by STARTED');
      await writer.storeResult(meta(id, 'SUCCESS', 'done'));
      const got = await within(waiting, 5000, 'waitForResult');
      expect(got).toMatchObject({ status: 'SUCCESS', result: 'done', task_id: id });
    });

    it('rejects with TimeoutError after the timeout', async () => {
      const backend = await make();
      const started = Date.now();
      const error: unknown = await backend.waitForResult(randomUUID(), { timeout: 150 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TimeoutError);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      expect(Date.now() - started).toBeLessThan(3000);
    });

    it('honours an AbortSignal, before and while waiting', async () => {
      const backend = await make();
      const controller = new AbortController();
      const waiting = backend.waitForResult(randomUUID(), { signal: controller.signal });
      controller.abort();
      await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
      await expect(backend.waitForResult(randomUUID(), { signal: AbortSignal.abort() })).rejects.toMatchObject({
        name: 'AbortError',
      });
    });

    it('serves many concurrent waiters', async () => {
      const waiter = await make();
      // Without shared results only the waiting process receives them: it stores them itself.
      const writer = caps(waiter).sharedResults ? await make() : waiter;
      const ids = Array.from({ length: 30 }, () => randomUUID());
      const shared = randomUUID();
      const waits = [
        ...ids.map((id) => waiter.waitForResult(id, { timeout: 10_000 })),
        ...Array.from({ length: 20 }, () => waiter.waitForResult(shared, { timeout: 10_000 })),
      ];
      await Promise.all([...ids, shared].map((id, i) => writer.storeResult(meta(id, 'SUCCESS', i))));
      const results = await within(Promise.all(waits), 8000, 'all waiters');
      expect(results.slice(0, 30).map((r) => r.task_id)).toEqual(ids);
      expect(results.slice(30).every((r) => r.task_id === shared && r.result === 30)).toBe(true);
    });
  });
}
