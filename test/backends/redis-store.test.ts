/**
 * The Redis result store's call-time subscription (Celery's `on_task_call`): a channel subscribed
 * as a task is sent, taken over by a later wait, and dropped when nobody waits for it.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import { parseRedisUrl } from '../../src/brokers/redis/connection.js';
import { RedisKeyValueStore } from '../../src/backends/redis/redis-store.js';
import type { KeyValueResultBackend } from '../../src/backends/keyvalue.js';
import { waitFor } from '../helpers/wait.js';

const URL = process.env.CELERIAC_TEST_REDIS_BACKEND_URL ?? 'redis://127.0.0.1:6379/1';

/** Subscribers of `channel`, as Redis counts them. */
async function subscribers(raw: Redis, channel: string): Promise<number> {
  const reply = (await raw.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

describe('redis result store: subscribing at call time', () => {
  let raw: Redis;
  const stores: RedisKeyValueStore[] = [];
  const open = async (watchTtlMs?: number): Promise<RedisKeyValueStore> => {
    const store = new RedisKeyValueStore({ connection: parseRedisUrl(URL, {}, 'result_backend', 'opts'), keyPrefix: `watch-${randomUUID().slice(0, 8)}:`, watchTtlMs });
    stores.push(store);
    await store.connect();
    return store;
  };

  beforeAll(() => {
    raw = new Redis(URL);
  });
  afterAll(async () => {
    await raw.quit();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  it('a waiter after watch() uses the subscription already made, and it is dropped once the wait ends', async () => {
    const store = await open();
    store.watch('task-1');
    const channel = store.key('task-1');
    await waitFor(async () => (await subscribers(raw, channel)) === 1, 3000, 'the watch subscription');
    const values: (string | undefined)[] = [];
    const stop = store.onChange('task-1', (value) => values.push(value));
    expect(store.watchedKeys).toBe(1);
    await raw.publish(channel, 'done');
    await waitFor(() => values.includes('done'), 3000, 'the published value');
    stop();
    expect(store.watchedKeys).toBe(0);
    await waitFor(async () => (await subscribers(raw, channel)) === 0, 3000, 'the unsubscribe');
  });

  it('drops a watched channel whose result arrives before anyone waits', async () => {
    const store = await open();
    store.watch('task-2');
    const channel = store.key('task-2');
    await waitFor(async () => (await subscribers(raw, channel)) === 1, 3000, 'the watch subscription');
    await raw.publish(channel, '{"status": "SUCCESS"}');
    await waitFor(() => store.watchedKeys === 0, 3000, 'the watch to be dropped');
    await waitFor(async () => (await subscribers(raw, channel)) === 0, 3000, 'the unsubscribe');
  });

  it('drops a watched channel nobody waits for after its time', async () => {
    const store = await open(100);
    store.watch('task-3');
    expect(store.watchedKeys).toBe(1);
    await waitFor(() => store.watchedKeys === 0, 3000, 'the watch to expire');
    await waitFor(async () => (await subscribers(raw, store.key('task-3'))) === 0, 3000, 'the unsubscribe');
  });

  it('an app subscribes as it sends a task and gets the result; a process running a worker does not', async () => {
    const queue = `watch-q-${randomUUID().slice(0, 8)}`;
    const client = new Celery('watch-client', { broker: 'memory://', resultBackend: URL, taskDefaultQueue: queue, logLevel: 'warning' });
    const add = client.task('watch.add', (a: number, b: number) => a + b);
    try {
      await client.connectBackend();
      const store = (await ((await client.connectBackend()) as KeyValueResultBackend).getStore()) as RedisKeyValueStore;
      const result = await add.delay(2, 3);
      await waitFor(() => store.watchedKeys === 1, 3000, 'the call-time subscription');
      const worker = client.worker({ concurrency: 1 });
      await worker.start();
      try {
        expect(await result.get({ timeout: 5000 })).toBe(5);
        expect(store.watchedKeys).toBe(0);
        // With a worker running in this process, sending watches nothing (Celery: task_join_will_block).
        const second = await add.delay(1, 1);
        await new Promise((resolve) => setImmediate(resolve));
        expect(store.watchedKeys).toBe(0);
        expect(await second.get({ timeout: 5000 })).toBe(2);
      } finally {
        await worker.close();
      }
    } finally {
      await client.close();
    }
  });
});

describe('redis result store: a lone result write', () => {
  it('is one script call, written as the result is stored, and its waiter hears it', async () => {
    const store = new RedisKeyValueStore({ connection: parseRedisUrl(URL, {}, 'result_backend', 'opts'), keyPrefix: `lone-${randomUUID().slice(0, 8)}:` });
    const listener = new Redis(URL);
    const raw = new Redis(URL);
    try {
      await store.connect();
      const key = store.key('task-1');
      await listener.subscribe(key);
      const heard: string[] = [];
      listener.on('message', (_channel: string, message: string) => heard.push(message));
      const monitor = await raw.monitor();
      // Commands sent by the store's connection only (other test files share this Redis); the
      // script's own calls have the source "lua" and are left out too.
      const { localAddress, localPort } = store.client.stream;
      const storeSource = `${localAddress}:${localPort}`;
      const seen: string[] = [];
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source === storeSource) seen.push(args.join(' ').toLowerCase());
      });
      try {
        const bytesBefore = store.client.stream.bytesWritten;
        const written = store.setResult('task-1', '{"status": "SUCCESS"}', 60);
        // Written in this turn, before anything else runs (no batch microtask for a lone result).
        expect(store.client.stream.bytesWritten).toBeGreaterThan(bytesBefore);
        await written;
        await waitFor(() => heard.length === 1, 3000, 'the waiter to hear the result');
        // Something after it, so MONITOR has shown everything the store sent before.
        await store.client.echo('after');
        await waitFor(() => seen.some((cmd) => cmd === 'echo after'), 3000, 'the monitor to catch up');
      } finally {
        monitor.disconnect();
      }
      expect(heard).toEqual(['{"status": "SUCCESS"}']);
      // The guarded write script alone (it does the SET and the PUBLISH): no PING rides with it.
      const sent = seen.filter((cmd) => cmd !== 'echo after');
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatch(/^(evalsha|eval) /);
    } finally {
      await store.close();
      listener.disconnect();
      raw.disconnect();
    }
  });
});
