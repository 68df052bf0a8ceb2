import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createResultBackend } from '../../src/backends/index.js';
import { checkResultExpires, KeyValueResultBackend, type KeyValueStore } from '../../src/backends/keyvalue.js';
import { MemoryKeyValueStore } from '../../src/backends/memory/index.js';
import type { ResultBackend } from '../../src/backends/types.js';
import { ConfigurationError } from '../../src/errors.js';
import { backendConformance } from '../conformance/backend.suite.js';

const rawGet = async (backend: ResultBackend, key: string): Promise<string | null> =>
  (await (backend as KeyValueResultBackend).getStore()).get(key);

const name = `conformance-${randomUUID()}`;
backendConformance(
  'memory',
  async (options) => {
    const backend = createResultBackend(`cache+memory://${name}`, options);
    await backend.connect();
    return backend;
  },
  { rawGet },
);

/** The memory store without change notification, to exercise the polling path of waitForResult. */
class PolledStore implements KeyValueStore {
  constructor(private readonly inner: MemoryKeyValueStore) {}
  get = (key: string) => this.inner.get(key);
  mget = (keys: string[]) => this.inner.mget(keys);
  set = (key: string, value: string, ttl: number | null) => this.inner.set(key, value, ttl);
  delete = (key: string) => this.inner.delete(key);
  cleanup = () => this.inner.cleanup();
  close = () => this.inner.close();
}

const polledName = `polled-${randomUUID()}`;
backendConformance(
  'key-value store without notifications (polling)',
  async (options) =>
    new KeyValueResultBackend({
      backend: 'polled',
      url: `memory://${polledName}`,
      open: () => new PolledStore(new MemoryKeyValueStore(polledName)),
      resultExpires: options?.resultExpires,
    }),
  { rawGet },
);

describe('memory result backend', () => {
  it('shares results by URL name across both spellings, and keeps names apart', async () => {
    const [a, b, c] = [createResultBackend('memory://rb-a'), createResultBackend('cache+memory://rb-a'), createResultBackend('memory://rb-c')];
    const id = randomUUID();
    await a.storeResult({ status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null, task_id: id });
    expect((await b.getTaskMeta(id)).status).toBe('SUCCESS');
    expect((await c.getTaskMeta(id)).status).toBe('PENDING');
    expect(a.backend).toBe('memory');
  });

  it('validates result_expires', () => {
    expect(checkResultExpires(undefined)).toBe(86400);
    expect(checkResultExpires(null)).toBeNull();
    expect(checkResultExpires(0)).toBeNull();
    expect(() => createResultBackend('memory://', { resultExpires: -5 })).toThrow(ConfigurationError);
    expect(() => createResultBackend('memory://', { resultExpires: '1d' as unknown as number })).toThrow(/result_expires/);
  });

  it('rejects unknown schemes naming result_backend, without leaking passwords', () => {
    expect(() => createResultBackend('couchbase://:pw123@localhost/1')).toThrow(ConfigurationError);
    try {
      createResultBackend('couchbase://:pw123@localhost/1');
    } catch (err) {
      expect((err as ConfigurationError).setting).toBe('result_backend');
      expect((err as Error).message).not.toMatch(/pw123/);
      expect((err as Error).message).toMatch(/cache\+memory:\/\/.*db\+sqlite:\/\//);
    }
  });

  it('accepts a custom codec', async () => {
    const backend = new KeyValueResultBackend({
      backend: 'memory',
      url: 'memory://codec',
      open: () => new MemoryKeyValueStore(`codec-${randomUUID()}`),
      codec: { encode: (v) => `X${JSON.stringify(v)}`, decode: (t) => JSON.parse(t.slice(1)) as unknown },
    });
    const id = randomUUID();
    await backend.storeResult({ status: 'SUCCESS', result: [1], traceback: null, children: [], date_done: null, task_id: id });
    expect(await (await backend.getStore()).get(`celery-task-meta-${id}`)).toMatch(/^X\{/);
    expect((await backend.getTaskMeta(id)).result).toEqual([1]);
  });
});
