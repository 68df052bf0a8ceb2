/**
 * ResultChannels on a real Redis. A channel of its own: each SUBSCRIBE is followed by a GET of the
 * key on the subscriber connection (RESP3), so a result stored before the subscription was live
 * reaches the waiter with no read of its own; over RESP2 the waiter is told to read. Unsubscribes
 * share a write with the next subscribe. Channels under the process's prefix: one PSUBSCRIBE for
 * all of them, and the same guarantees.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ResultChannels } from '../../src/backends/redis/result-channels.js';
import { waitFor } from '../helpers/wait.js';

const URL = process.env.CELERIAC_TEST_REDIS_BACKEND_URL ?? 'redis://127.0.0.1:6379/1';

describe('redis result channels', () => {
  let raw: Redis;
  const open: ResultChannels[] = [];
  /** The prefix of "this process's" ids in these tests, and the subscriber connections' names. */
  const prefix = `celery-task-meta-${randomUUID().slice(0, 8)}-`;
  const connectionName = `channels-test-${randomUUID().slice(0, 8)}`;
  const channels = (protocol: 2 | 3 = 3): ResultChannels => {
    const c = new ResultChannels({ openSubscriber: () => new Redis(URL, { protocol, connectionName }), patternPrefix: prefix });
    open.push(c);
    return c;
  };
  /** A channel of its own (not under the prefix), and one heard on the pattern. */
  const key = (): string => `celery-task-meta-channels-${randomUUID()}`;
  const own = (): string => `${prefix}${randomUUID().slice(9)}`;
  const numsub = async (channel: string): Promise<number> => Number(((await raw.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1]);
  /** Patterns our subscriber connection holds (PUBSUB NUMPAT counts every client's, other test files' too). */
  const psub = async (): Promise<number> => {
    const line = String(await raw.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
      .split('\n')
      .find((l) => l.includes(` name=${connectionName} `));
    return Number(/ psub=(\d+)/.exec(line ?? '')?.[1] ?? 0);
  };

  beforeAll(() => {
    raw = new Redis(URL);
  });
  afterAll(async () => {
    await raw.quit();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  describe.each([
    { kind: 'a channel of its own', name: key, live: async (k: string) => (await numsub(k)) === 1 },
    { kind: 'a channel under the process pattern', name: own, live: async () => (await psub()) === 1 },
  ])('$kind', ({ name, live }) => {
    it('hands a waiter the value stored before it listened, read right behind the subscription', async () => {
      const c = channels();
      const k = name();
      await raw.set(k, '{"status": "SUCCESS"}', 'EX', 60);
      const values: (string | undefined)[] = [];
      c.onChange(k, (v) => values.push(v));
      await waitFor(() => values.length > 0, 3000, 'the stored value');
      expect(values).toEqual(['{"status": "SUCCESS"}']);
    });

    it('calls a waiter on nothing stored yet only when a value is published', async () => {
      const c = channels();
      const k = name();
      const values: (string | undefined)[] = [];
      c.onChange(k, (v) => values.push(v));
      await waitFor(() => live(k), 3000, 'the subscription');
      expect(values).toEqual([]);
      await raw.publish(k, 'done');
      await waitFor(() => values.length > 0, 3000, 'the published value');
      expect(values).toEqual(['done']);
    });

    it('a waiter joining a channel that already delivered a value gets that value', async () => {
      const c = channels();
      const k = name();
      const first: (string | undefined)[] = [];
      c.onChange(k, (v) => first.push(v));
      await waitFor(() => live(k), 3000, 'the subscription');
      await raw.publish(k, 'STARTED');
      await waitFor(() => first.length > 0, 3000, 'the first value');
      const second: (string | undefined)[] = [];
      c.onChange(k, (v) => second.push(v));
      await waitFor(() => second.length > 0, 3000, 'the value handed over');
      expect(second).toEqual(['STARTED']);
    });

    it('over RESP2 the waiter is told to read once the subscription is live, and still gets published values', async () => {
      const c = channels(2);
      const k = name();
      const values: (string | undefined)[] = [];
      c.onChange(k, (v) => values.push(v));
      await waitFor(() => values.length > 0, 3000, 'the call to read');
      expect(values).toEqual([undefined]);
      await raw.publish(k, 'done');
      await waitFor(() => values.length > 1, 3000, 'the published value');
      expect(values).toEqual([undefined, 'done']);
      // A second waiter on the live channel reads for itself too.
      const second: (string | undefined)[] = [];
      c.onChange(k, (v) => second.push(v));
      await waitFor(() => second.length > 0, 3000, 'the second call to read');
    });
  });

  it('unsubscribes once nobody listens, sent with the next subscribe and its read', async () => {
    const c = channels();
    const [a, b] = [key(), key()];
    const stopA = c.onChange(a, () => undefined);
    await waitFor(async () => (await numsub(a)) === 1, 3000, 'the first subscription');
    const monitor = await raw.monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args.join(' ')));
    try {
      stopA();
      c.onChange(b, () => undefined);
      await waitFor(async () => (await numsub(b)) === 1 && (await numsub(a)) === 0, 3000, 'the swap');
      await waitFor(() => seen.some((s) => s.startsWith('get')), 3000, 'the read');
      const mine = seen.filter((s) => !/^pubsub/i.test(s) && (s.includes(a) || s.includes(b)));
      expect(mine).toEqual([`unsubscribe ${a}`, `subscribe ${b}`, `get ${b}`]);
    } finally {
      monitor.disconnect();
    }
    expect(c.size).toBe(1);
  });

  it('watched calls under the pattern send no subscription commands once it is live, and it is dropped after the last', async () => {
    const c = channels();
    // The first call subscribes the pattern and reads its key.
    const first = own();
    const got: string[] = [];
    c.watch(first);
    const stop = c.onChange(first, (v) => v !== undefined && got.push(v));
    await waitFor(async () => (await psub()) === 1, 3000, 'the pattern');
    expect(await numsub(first)).toBe(0); // heard on the pattern, not its own channel
    await raw.publish(first, 'r0');
    await waitFor(() => got.length === 1, 3000, 'the first result');
    // Another waiter keeps the pattern while MONITOR connects (it is dropped a second after the last).
    const keep = c.onChange(own(), () => undefined);
    stop();
    const monitor = await raw.monitor();
    const seen: string[] = [];
    const loop: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args.join(' ').toLowerCase()));
    try {
      for (let i = 1; i <= 5; i++) {
        const k = own();
        loop.push(k);
        c.watch(k); // as a call is sent
        const values: string[] = [];
        const release = c.onChange(k, (v) => v !== undefined && values.push(v));
        await raw.publish(k, `r${i}`);
        await waitFor(() => values.length === 1, 3000, `result ${i}`);
        expect(values).toEqual([`r${i}`]);
        release();
      }
    } finally {
      monitor.disconnect();
    }
    keep();
    // (The keeper's own read may show; nothing for the loop's calls. MONITOR shows every client's
    // commands, other test files' subscriptions too: only ours count.)
    expect(seen.filter((cmd) => (/subscribe/.test(cmd) && cmd.includes(prefix)) || (cmd.startsWith('get ') && loop.some((k) => cmd.includes(k))))).toEqual([]);
    await waitFor(async () => (await psub()) === 0, 3000, 'the pattern to be dropped');
    expect(c.size).toBe(0);
  });

  it('keeps the pattern through a pause between calls, and drops it about a second after the last', async () => {
    const c = channels();
    const stop = c.onChange(own(), () => undefined);
    await waitFor(async () => (await psub()) === 1, 3000, 'the pattern');
    stop();
    const released = performance.now();
    // A client calling in bursts (a web handler, say): the pattern outlasts a pause of 100 ms.
    await waitFor(() => performance.now() - released >= 100, 1000, 'a pause of 100 ms');
    expect(await psub()).toBe(1);
    await waitFor(async () => (await psub()) === 0, 3000, 'the pattern to be dropped');
    expect(performance.now() - released).toBeGreaterThanOrEqual(900);
  });

  it.each([
    { what: 'is kept for the waiter that follows: it reads nothing', size: 40, read: false },
    { what: 'over 64 KiB is not kept: the waiter reads the key', size: 70_000, read: true },
  ])('a watched result that arrives before anyone waits $what', async ({ size, read }) => {
    const c = channels();
    const keep = c.onChange(own(), () => undefined); // holds the pattern live throughout
    await waitFor(async () => (await psub()) === 1, 3000, 'the pattern');
    const k = own();
    const value = JSON.stringify({ status: 'SUCCESS', result: 'x'.repeat(size) });
    c.watch(k); // as the call is sent; the pattern is live, so nothing is written
    await raw.set(k, value, 'EX', 60);
    await raw.publish(k, value);
    await waitFor(() => c.size === 1, 3000, 'the watch to be dropped when its result came');
    const monitor = await raw.monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args.join(' ').toLowerCase()));
    try {
      const got: string[] = [];
      const stop = c.onChange(k, (v) => {
        if (v === undefined) return;
        got.push(v);
        stop(); // a final value ends the wait, as AsyncResult.get() does
      });
      await waitFor(() => got.length === 1, 3000, 'the result');
      expect(got).toEqual([value]);
      // Something after it on the connection, so MONITOR has shown anything sent before.
      await raw.ping();
      await waitFor(() => seen.some((cmd) => cmd === 'ping'), 3000, 'the monitor to catch up');
    } finally {
      monitor.disconnect();
    }
    expect(seen.some((cmd) => cmd === `get ${k.toLowerCase()}`)).toBe(read);
    keep();
  });

  it('under the pattern, results of ids nobody awaits are handed to no one, and other channels keep their own subscription', async () => {
    const c = channels();
    const mine = own();
    const theirs = key();
    const got: string[] = [];
    c.onChange(mine, (v) => v !== undefined && got.push(`mine:${v}`));
    c.onChange(theirs, (v) => v !== undefined && got.push(`theirs:${v}`));
    await waitFor(async () => (await numsub(theirs)) === 1 && (await psub()) === 1, 3000, 'both subscriptions');
    await raw.publish(`${prefix}not-awaited`, 'x');
    await raw.publish(theirs, 't');
    await raw.publish(mine, 'm');
    await waitFor(() => got.length === 2, 3000, 'both results');
    expect(got.sort()).toEqual(['mine:m', 'theirs:t']);
  });
});
