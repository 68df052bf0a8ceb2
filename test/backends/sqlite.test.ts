import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createResultBackend } from '../../src/backends/index.js';
import type { KeyValueResultBackend } from '../../src/backends/keyvalue.js';
import type { ResultBackend } from '../../src/backends/types.js';
import { createBroker } from '../../src/brokers/index.js';
import { ConfigurationError } from '../../src/errors.js';
import { backendConformance } from '../conformance/backend.suite.js';
import { spawnTs } from '../helpers/child.js';
import { within } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-sqlite-backend-'));
const file = join(dir, 'results.db');
const url = `db+sqlite:///${file}`;

backendConformance(
  'sqlite',
  async (options) => {
    const backend = createResultBackend(url, options);
    await backend.connect();
    return backend;
  },
  { rawGet: async (backend, key) => (await (backend as KeyValueResultBackend).getStore()).get(key) },
);

describe('sqlite result backend', () => {
  const open: ResultBackend[] = [];
  const make = async (options?: Record<string, unknown>, at = url): Promise<ResultBackend> => {
    const backend = createResultBackend(at, options);
    open.push(backend);
    await backend.connect();
    return backend;
  };
  const success = (id: string, result: unknown = 1) => ({
    status: 'SUCCESS',
    result,
    traceback: null,
    children: [],
    date_done: '2026-11-21T20:08:12.068152+00:00',
    task_id: id,
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('stores Celery keys and JSON in celeriac_kv', async () => {
    const backend = await make();
    const id = randomUUID();
    await backend.storeResult(success(id, { a: [1, 'é'] }));
    const db = new Database(file, { readonly: true });
    const row = db.prepare('SELECT key, value, expires_at FROM celeriac_kv WHERE key = ?').get(`celery-task-meta-${id}`) as {
      value: string;
      expires_at: number;
    };
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    expect(row.value).toBe(
      `{"status": "SUCCESS", "result": {"a": [1, "\\u00e9"]}, "traceback": null, "children": [], "date_done": "2026-11-21T20:08:12.068152+00:00", "task_id": "${id}"}`,
    );
    expect(row.expires_at).toBeGreaterThan(Date.now() + 86_000_000);
  });

  it('hides expired rows and deletes them on cleanup', async () => {
    const backend = await make({ resultExpires: 60 });
    const id = randomUUID();
    await backend.storeResult(success(id));
    const db = new Database(file);
    db.prepare('UPDATE celeriac_kv SET expires_at = ? WHERE key = ?').run(Date.now() - 1, `celery-task-meta-${id}`);
    expect((await backend.getTaskMeta(id)).status).toBe('PENDING');
    expect(await backend.cleanup()).toBeGreaterThanOrEqual(1);
    expect(db.prepare('SELECT count(*) FROM celeriac_kv WHERE key = ?').pluck().get(`celery-task-meta-${id}`)).toBe(0);
    db.close();
  });

  it('wakes a waiter when another process stores the result', async () => {
    const backend = await make({ pollingInterval: 0.05 });
    const id = randomUUID();
    const waiting = backend.waitForResult(id, { timeout: 20_000 });
    const child = spawnTs('test/helpers/sqlite-backend-child.ts', [url, id, 'SUCCESS', '{"from": "child"}']);
    await child.next((e) => e.event === 'stored');
    expect(await child.exited).toBe(0);
    expect(await within(waiting, 5000, 'cross-process wake')).toMatchObject({ status: 'SUCCESS', result: { from: 'child' } });
  });

  it('shares one file with the broker', async () => {
    const shared = join(dir, 'shared.db');
    const broker = createBroker(`sqlite:///${shared}`);
    await broker.connect();
    const backend = await make({}, `sqlite:///${shared}`);
    const id = randomUUID();
    await backend.storeResult(success(id));
    await broker.publish(
      { body: Buffer.from('x'), contentType: 'text/plain', contentEncoding: 'utf-8', headers: {}, properties: {} },
      { exchange: '', routingKey: 'q' },
    );
    expect(await broker.queueSize('q')).toBe(1);
    expect((await backend.getTaskMeta(id)).status).toBe('SUCCESS');
    await broker.close();
    const db = new Database(shared, { readonly: true });
    const versions = db.prepare('SELECT component, version FROM celeriac_schema ORDER BY component').all();
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    db.close();
    expect(versions).toEqual([
      { component: 'broker', version: 1 },
      { component: 'result_backend', version: 2 },
    ]);
    expect(tables.filter((t) => !String(t).startsWith('sqlite_')).every((t) => String(t).startsWith('celeriac_'))).toBe(true);
  });

  it('rejects pending waits when closed', async () => {
    const backend = createResultBackend(url);
    const waiting = backend.waitForResult(randomUUID());
    await backend.close();
    await expect(within(waiting, 1000, 'rejection on close')).rejects.toThrow(/closed/);
  });

  it('validates its URL and options', () => {
    expect(() => createResultBackend('sqlite://')).toThrow(ConfigurationError);
    expect(() => createResultBackend('db+sqlite:///x.db?mode=ro')).toThrow(/result_backend/);
    expect(() => createResultBackend(url, { pollingInterval: -1 })).toThrow(/result_backend_transport_options\.pollingInterval/);
    expect(createResultBackend(`sqlite:///${file}`).backend).toBe('sqlite');
  });
});
