/**
 * The Redis broker writes and reads exactly kombu's layout (celery-reference §2), checked with a raw
 * Redis client, and behaves with messages a Python Celery would leave there.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBroker } from '../../src/brokers/index.js';
import type { Broker, Delivery } from '../../src/brokers/types.js';
import type { VirtualBroker } from '../../src/brokers/virtual/virtual-broker.js';
import { ConfigurationError } from '../../src/errors.js';
import { dumps } from '../../src/protocol/pyjson.js';
import { collect, message } from '../conformance/broker-helpers.js';
import { holdsFor, waitFor } from '../helpers/wait.js';

const URL = process.env.CELERIAC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const SEP = '\x06\x16';

describe('redis broker: kombu layout', () => {
  let raw: Redis;
  let prefix: string;
  const brokers: Broker[] = [];
  const open = async (options: Record<string, unknown> = {}): Promise<Broker> => {
    const broker = createBroker(URL, { globalKeyprefix: prefix, ...options });
    brokers.push(broker);
    await broker.connect();
    return broker;
  };
  const key = (name: string): string => prefix + name;

  beforeAll(() => {
    raw = new Redis(URL);
  });
  afterAll(async () => {
    await raw.quit();
  });
  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((b) => b.close()));
    const keys = await raw.keys(`${prefix}*`);
    if (keys.length > 0) await raw.del(...keys);
  });
  // A fresh prefix per test: the `unacked` keys are then this test's alone.
  const fresh = (): void => {
    prefix = `layout-${randomUUID().slice(0, 8)}:`;
  };

  it('LPUSHes kombu envelopes to priority sub-lists and binds queues in _kombu.binding sets', async () => {
    fresh();
    const broker = await open();
    await broker.declareQueue({ name: 'jobs', exchange: 'jobs', routingKey: 'jobs' });
    expect(await raw.smembers(key('_kombu.binding.jobs'))).toEqual([`jobs${SEP}${SEP}jobs`]);
    await broker.publish(message('a', { headers: { task: 't' } }), { exchange: '', routingKey: 'jobs' }, { priority: 0 });
    await broker.publish(message('b'), { exchange: 'jobs', routingKey: 'jobs' }, { priority: 5 });
    await broker.publish(message('c'), { exchange: '', routingKey: 'jobs' }, { priority: 9 });
    expect(await raw.llen(key('jobs'))).toBe(1);
    expect(await raw.llen(key(`jobs${SEP}3`))).toBe(1);
    expect(await raw.llen(key(`jobs${SEP}9`))).toBe(1);
    const envelope = JSON.parse((await raw.lindex(key('jobs'), 0)) as string) as Record<string, unknown>;
    expect(Object.keys(envelope)).toEqual(['body', 'content-encoding', 'content-type', 'headers', 'properties']);
    expect(envelope.properties).toMatchObject({ delivery_info: { exchange: '', routing_key: 'jobs' }, priority: 0, body_encoding: 'base64' });
    expect(Buffer.from(envelope.body as string, 'base64').toString()).toBe('a');
    expect(await broker.queueSize('jobs')).toBe(3);
  });

  it('records a delivery in unacked and unacked_index as kombu does, and removes it on ack', async () => {
    fresh();
    const broker = await open();
    await broker.publish(message('x'), { exchange: '', routingKey: 'q' });
    const stored = (await raw.lindex(key('q'), 0)) as string;
    const c = await collect(broker, ['q'], 1);
    await waitFor(() => c.got.length === 1);
    const d = c.got[0] as Delivery;
    const tag = (JSON.parse(stored) as { properties: { delivery_tag: string } }).properties.delivery_tag;
    expect(d.deliveryTag).toBe(tag);
    await waitFor(async () => (await raw.hexists(key('unacked'), tag)) === 1);
    expect(await raw.hget(key('unacked'), tag)).toBe(`[${stored}, "", "q"]`);
    // The hold the messages were taken into is gone with the record.
    expect(await raw.zcard(key('_celeriac.holds'))).toBe(0);
    expect(await raw.keys(key('_celeriac.hold.*'))).toEqual([]);
    const score = Number(await raw.zscore(key('unacked_index'), tag));
    expect(Math.abs(score - Date.now() / 1000)).toBeLessThan(5);
    await d.ack();
    expect(await raw.hlen(key('unacked'))).toBe(0);
    expect(await raw.zcard(key('unacked_index'))).toBe(0);
  });

  it('records two copies of one envelope taken in one reserve under two tags', async () => {
    fresh();
    const broker = await open();
    await broker.publish(message('dup'), { exchange: '', routingKey: 'q' });
    const stored = (await raw.lindex(key('q'), 0)) as string;
    await raw.lpush(key('q'), stored); // a duplicate publish of the same envelope
    const c = await collect(broker, ['q'], 8);
    await waitFor(() => c.got.length === 2);
    const tag = (JSON.parse(stored) as { properties: { delivery_tag: string } }).properties.delivery_tag;
    const tags = c.got.map((d) => d.deliveryTag);
    expect(tags).toContain(tag);
    expect(tags.find((t) => t !== tag)).toMatch(new RegExp(`^${tag}#`));
    expect(await raw.hlen(key('unacked'))).toBe(2);
    expect(await raw.zcard(key('unacked_index'))).toBe(2);
    await Promise.all(c.got.map((d) => d.ack()));
    expect(await raw.hlen(key('unacked'))).toBe(0);
  });

  it('an idle consumer woken for one message records it as unacked only if it is not acked at once', async () => {
    fresh();
    const monitor = await raw.monitor();
    const recorded: string[] = [];
    const blocked = new Set<string>();
    monitor.on('monitor', (_time: string, args: string[]) => {
      const command = args[0]?.toLowerCase();
      if (command === 'hset' && args[1] === key('unacked')) recorded.push(args[2] as string);
      if (command === 'brpop') blocked.add(args[1] as string);
    });
    try {
      const broker = await open();
      const early = await collect(broker, ['early'], 4, true);
      const late = await collect(broker, ['late'], 4);
      // Both consumers are blocked in BRPOP before the messages arrive.
      await waitFor(() => blocked.has(key('early')) && blocked.has(key('late')), 3000, 'both consumers to block');
      await broker.publish(message('a'), { exchange: '', routingKey: 'early' });
      await broker.publish(message('b'), { exchange: '', routingKey: 'late' });
      await waitFor(() => early.got.length === 1 && late.got.length === 1);
      const held = late.got[0] as Delivery;
      await waitFor(async () => (await raw.hexists(key('unacked'), held.deliveryTag)) === 1, 3000, 'the held message to be recorded');
      await waitFor(() => recorded.includes(held.deliveryTag), 3000, 'MONITOR to show the record');
      expect(recorded).not.toContain(early.got[0]?.deliveryTag);
      await held.ack();
      expect(await raw.hlen(key('unacked'))).toBe(0);
    } finally {
      monitor.disconnect();
    }
  });

  it('an idle consumer woken for one message learns with the pop that nothing is left, and asks for followers only when something is', async () => {
    fresh();
    const monitor = await raw.monitor();
    // MONITOR lists the commands a script runs (not the EVALSHA itself): taking messages shows as SORT.
    const commands: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (String(args[1] ?? '').startsWith(prefix)) commands.push(String(args[0]).toLowerCase());
    });
    const count = (name: string, from = 0): number => commands.slice(from).filter((c) => c === name).length;
    try {
      const broker = await open();
      // Envelopes for the burst, published to a queue nobody consumes and taken off it.
      for (const body of ['b1', 'b2', 'b3']) await broker.publish(message(body), { exchange: '', routingKey: 'staging' });
      const burst = (await raw.lrange(key('staging'), 0, -1)).reverse();
      await raw.del(key('staging'));
      const c = await collect(broker, ['q'], 8, true); // prefetch 8: a reserve may take 2
      await waitFor(() => count('brpop') === 1, 3000, 'the consumer to block');
      const blocked = commands.length;
      await broker.publish(message('lone'), { exchange: '', routingKey: 'q' });
      await waitFor(() => c.got.length === 1 && count('brpop') === 2, 3000, 'the lone message, then a new BRPOP');
      expect(count('exists', blocked)).toBeGreaterThanOrEqual(1); // the check sent with the first BRPOP
      expect(count('sort', blocked)).toBe(0); // no take between the two BRPOPs
      expect(count('lrange', blocked)).toBe(0); // (not even one that finds nothing)
      expect(count('hset', blocked)).toBe(0); // and no record: it was acked at once
      const again = commands.length;
      await raw.lpush(key('q'), ...burst);
      await waitFor(() => c.got.length === 4, 3000, 'the burst');
      expect(c.bodies()).toEqual(['lone', 'b1', 'b2', 'b3']);
      expect(count('sort', again)).toBeGreaterThanOrEqual(1); // the rest of the burst came with a take
    } finally {
      monitor.disconnect();
    }
  });

  it('a consumer cancelled while its pop is answered returns the messages that were to follow it', async () => {
    fresh();
    const monitor = await raw.monitor();
    let pops = 0;
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (String(args[0]).toLowerCase() === 'brpop' && String(args[1] ?? '').startsWith(prefix)) pops++;
    });
    try {
      const broker = await open();
      for (const body of ['a', 'b', 'c']) await broker.publish(message(body), { exchange: '', routingKey: 'staging' });
      const burst = (await raw.lrange(key('staging'), 0, -1)).reverse();
      await raw.del(key('staging'));
      const c = await collect(broker, ['q'], 8); // prefetch 8: the pop may bring one follower
      await waitFor(() => pops === 1, 3000, 'the consumer to block');
      // Another process pushes while this one's event loop is held, so the BRPOP has popped (and the
      // count says more is left) before the cancel below: the cancel comes between the pop and
      // what the channel does with its reply.
      const push = `const { Redis } = require('ioredis'); const r = new Redis(process.env.URL);
        r.lpush(process.env.KEY, ...JSON.parse(process.env.BURST)).then(() => r.quit());`;
      const pushed = spawnSync(process.execPath, ['-e', push], { env: { ...process.env, URL, KEY: key('q'), BURST: JSON.stringify(burst) } });
      expect(pushed.status).toBe(0);
      await c.sub.cancel();
      expect(c.got).toEqual([]);
      // The popped message comes back with the consumer, its follower with the channel.
      await waitFor(async () => (await raw.llen(key('q'))) === 3, 3000, 'all three back on the list');
      await waitFor(async () => (await raw.hlen(key('unacked'))) === 0, 3000, 'no unacked record left');
    } finally {
      monitor.disconnect();
    }
  });

  it('still consumes, one message per BRPOP, where the Redis user may not run SORT (an ACL without @dangerous)', async () => {
    fresh();
    const user = `celeriac-nosort-${randomUUID().slice(0, 8)}`;
    await raw.call('ACL', 'SETUSER', user, 'on', '>pw', '~*', '&*', '+@all', '-sort');
    try {
      const url = new globalThis.URL(URL);
      url.username = user;
      url.password = 'pw';
      // CLIENT UNBLOCK is in @dangerous too: closing then waits out the BRPOP, so keep that short.
      const broker = createBroker(url.toString(), { globalKeyprefix: prefix, pollingInterval: 1 });
      brokers.push(broker);
      await broker.connect();
      for (const body of ['a', 'b', 'c']) await broker.publish(message(body), { exchange: '', routingKey: 'q' });
      const c = await collect(broker, ['q'], 8, true);
      await waitFor(() => c.got.length === 3, 5000, 'three messages');
      expect(c.bodies()).toEqual(['a', 'b', 'c']);
      await broker.publish(message('d'), { exchange: '', routingKey: 'q' });
      await waitFor(() => c.got.length === 4, 5000, 'a fourth');
      expect(await raw.keys(key('_celeriac.hold.*'))).toEqual([]);
      // Closed before its user goes (Redis drops a deleted user's connections, and ioredis would retry).
      await broker.close();
    } finally {
      await raw.call('ACL', 'DELUSER', user);
    }
  });

  it('consumes a message exactly as Python Celery stored it', async () => {
    fresh();
    const fixture = JSON.parse(readFileSync('test/fixtures/celery-wire/redis/task/5.2.6/apply_async_full.json', 'utf8')) as {
      raw: string;
      redis_key: string;
    };
    await raw.lpush(key(fixture.redis_key), fixture.raw);
    const broker = await open();
    const c = await collect(broker, ['other'], 1);
    await waitFor(() => c.got.length === 1);
    expect(c.got[0]?.message.headers.task).toBe('proj.tasks.add');
    expect(c.got[0]?.deliveryInfo.priority).toBe(5);
    expect(await raw.hget(key('unacked'), c.got[0]?.deliveryTag as string)).toBe(`[${fixture.raw}, "", "other"]`);
    await c.got[0]?.ack();
  });

  it('dead-letters a malformed payload with its reason and goes on consuming', async () => {
    fresh();
    await raw.lpush(key('q'), 'this is not json');
    const broker = await open();
    await broker.publish(message('good'), { exchange: '', routingKey: 'q' });
    const c = await collect(broker, ['q'], 2, true);
    await waitFor(() => c.got.length === 1);
    expect(c.bodies()).toEqual(['good']);
    const dead = JSON.parse((await raw.lindex(key('_celeriac.dead.q'), 0)) as string) as { reason: string; payload: string };
    expect(dead.payload).toBe('this is not json');
    expect(dead.reason).toMatch(/malformed/);
    expect(await (broker as VirtualBroker).deadLetterCount('q')).toBe(1);
  });

  it('records each envelope under its properties\' delivery_tag with its delivery_info, and dead-letters one without a delivery_tag', async () => {
    fresh();
    const broker = await open();
    await broker.publish(message('a'), { exchange: '', routingKey: 'q' });
    const base = JSON.parse((await raw.rpop(key('q'))) as string) as { headers: Record<string, unknown>; properties: Record<string, unknown> };
    const variant = (edit: (env: typeof base) => void): string => {
      const env = structuredClone(base);
      edit(env);
      return dumps(env);
    };
    const plainTag = 'plain-1';
    const dupTag = 'dup-1';
    const escapedTag = 'esc-1';
    await raw.lpush(
      key('q'),
      variant((e) => (e.properties.delivery_tag = plainTag)),
      // A second "delivery_tag" (in the headers): decoded, the properties' one counts.
      variant((e) => {
        e.properties.delivery_tag = dupTag;
        e.headers.delivery_tag = 'not-this-one';
      }),
      // An escaped routing key: decoded.
      variant((e) => {
        e.properties.delivery_tag = escapedTag;
        e.properties.delivery_info = { exchange: '', routing_key: 'q\u00e9' };
      }),
      // The only delivery_tag is a header: not kombu's envelope, dead-lettered.
      variant((e) => {
        delete e.properties.delivery_tag;
        e.headers.delivery_tag = 'header-tag';
      }),
    );
    const c = await collect(broker, ['q'], 10);
    await waitFor(() => c.got.length === 3);
    expect(c.got.map((d) => d.deliveryTag).sort()).toEqual([dupTag, escapedTag, plainTag].sort());
    expect(await raw.hget(key('unacked'), plainTag)).toMatch(/, "", "q"\]$/);
    expect(JSON.parse((await raw.hget(key('unacked'), dupTag)) as string)).toHaveLength(3);
    expect((JSON.parse((await raw.hget(key('unacked'), escapedTag)) as string) as unknown[])[2]).toBe('q\u00e9');
    await waitFor(async () => (await raw.llen(key('_celeriac.dead.q'))) === 1);
    const dead = JSON.parse((await raw.lindex(key('_celeriac.dead.q'), 0)) as string) as { reason: string };
    expect(dead.reason).toMatch(/delivery_tag/);
    expect(await raw.hexists(key('unacked'), 'header-tag')).toBe(0);
    await Promise.all(c.got.map((d) => d.ack()));
  });

  it('restores a dead consumer’s message to the front, marked redelivered, under unacked_mutex', async () => {
    fresh();
    const broker = await open({ visibilityTimeout: 60 });
    await broker.publish(message('first'), { exchange: '', routingKey: 'q' });
    await broker.publish(message('second'), { exchange: '', routingKey: 'q' });
    // What a worker that died while holding 'first' leaves behind (kombu's QoS.append).
    const payload = (await raw.rpop(key('q'))) as string;
    const tag = (JSON.parse(payload) as { properties: { delivery_tag: string } }).properties.delivery_tag;
    await raw.hset(key('unacked'), tag, `[${payload}, "", "q"]`);
    await raw.zadd(key('unacked_index'), Date.now() / 1000 - 120, tag);
    // Someone (a Python worker) holds the mutex: no restore this time.
    await raw.set(key('unacked_mutex'), 'python', 'PX', 5000);
    const channel = await (broker as unknown as { ch(): Promise<{ restoreVisible(): Promise<number> }> }).ch();
    expect(await channel.restoreVisible()).toBe(0);
    await raw.del(key('unacked_mutex'));
    expect(await channel.restoreVisible()).toBe(1);
    expect(await raw.exists(key('unacked_mutex'))).toBe(0);
    expect(await raw.hlen(key('unacked'))).toBe(0);
    const head = JSON.parse((await raw.lindex(key('q'), -1)) as string) as { headers: { redelivered: boolean }; properties: { delivery_info: { redelivered: boolean } } };
    expect(head.headers.redelivered).toBe(true);
    expect(head.properties.delivery_info.redelivered).toBe(true);
    const c = await collect(broker, ['q'], 0, true);
    await waitFor(() => c.got.length === 2);
    expect(c.bodies()).toEqual(['first', 'second']);
    expect(c.got[0]?.redelivered).toBe(true);
  });

  it('restores a dead worker\'s hold (taken, never recorded) to the front of its lists, in order, marked redelivered', async () => {
    fresh();
    const broker = await open({ visibilityTimeout: 60 });
    for (const body of ['h1', 'h2', 'h3']) await broker.publish(message(body), { exchange: '', routingKey: 'q' });
    await broker.publish(message('later'), { exchange: '', routingKey: 'q' });
    // What a worker that died right after its take leaves: h1..h3 (list order, oldest last) in a hold.
    const hold = key('_celeriac.hold.dead-worker.1');
    await raw.sort(key('q'), 'BY', 'nosort', 'LIMIT', 1, 3, 'STORE', hold);
    await raw.ltrim(key('q'), 0, 0);
    await raw.lpush(hold, 'not json');
    await raw.zadd(key('_celeriac.holds'), Date.now() / 1000 - 120, hold);
    // A fresh hold (its worker is still recording it) is left alone.
    const fresh2 = key('_celeriac.hold.live-worker.1');
    await raw.rpush(fresh2, 'x');
    await raw.zadd(key('_celeriac.holds'), Date.now() / 1000, fresh2);
    const channel = await (broker as unknown as { ch(): Promise<{ restoreVisible(): Promise<number> }> }).ch();
    expect(await channel.restoreVisible()).toBe(3);
    expect(await raw.exists(hold)).toBe(0);
    expect(await raw.zrange(key('_celeriac.holds'), '0', '-1')).toEqual([fresh2]);
    const dead = JSON.parse((await raw.lindex(key('_celeriac.dead.unknown'), 0)) as string) as { payload: string; reason: string };
    expect(dead).toMatchObject({ payload: 'not json' });
    expect(dead.reason).toMatch(/could not restore/);
    const c = await collect(broker, ['q'], 1, true);
    await waitFor(() => c.got.length === 4);
    expect(c.bodies()).toEqual(['h1', 'h2', 'h3', 'later']);
    expect(c.got.slice(0, 3).every((d) => d.redelivered)).toBe(true);
    expect(c.got[3]?.redelivered).toBe(false);
  });

  it('keeps a held message out of a Python-style restore by re-scoring it (celery#4400)', async () => {
    fresh();
    const broker = await open({ visibilityTimeout: 2 });
    await broker.publish(message('long'), { exchange: '', routingKey: 'q' });
    const c = await collect(broker, ['q'], 1);
    await waitFor(() => c.got.length === 1);
    const tag = c.got[0]?.deliveryTag as string;
    await raw.zadd(key('unacked_index'), Date.now() / 1000 - 100, tag); // looks long-running
    await c.got[0]?.extendVisibility?.(2);
    // kombu's restore_visible query: ZREVRANGEBYSCORE unacked_index <now - visibility> 0.
    expect(await raw.zrevrangebyscore(key('unacked_index'), Date.now() / 1000 - 2, 0)).toEqual([]);
    await c.got[0]?.ack();
  });

  it('defers an ETA message by score so that any restore brings it back when due', async () => {
    fresh();
    const broker = await open({ visibilityTimeout: 3600 });
    await broker.publish(message('eta'), { exchange: '', routingKey: 'q' });
    const c = await collect(broker, ['q'], 1);
    await waitFor(() => c.got.length === 1);
    const tag = c.got[0]?.deliveryTag as string;
    const when = Date.now() + 700;
    await c.got[0]?.deferUntil?.(new Date(when));
    // Exactly the score kombu's restore compares against: due = score + visibility_timeout.
    expect(Number(await raw.zscore(key('unacked_index'), tag)) + 3600).toBeCloseTo(when / 1000, 2);
    await holdsFor(() => c.got.length === 1, 300, 'not before it is due');
    await waitFor(() => c.got.length === 2, 5000, 'back when due');
    expect(c.at[1]).toBeGreaterThanOrEqual(when);
    await c.got[1]?.ack();
  });

  it('rebuilds a missing _kombu.binding set instead of dropping messages', async () => {
    fresh();
    const broker = await open();
    await broker.declareQueue({ name: 'rb', exchange: 'rbx', routingKey: 'rb' });
    await raw.del(key('_kombu.binding.rbx'));
    await broker.publish(message('m'), { exchange: 'rbx', routingKey: 'rb' });
    expect(await broker.queueSize('rb')).toBe(1);
    expect(await raw.scard(key('_kombu.binding.rbx'))).toBe(1);
  });

  it('publishes fanout messages on /{db}.<exchange>/<routing key>', async () => {
    fresh();
    const broker = await open();
    const seen: string[] = [];
    const sub = raw.duplicate();
    await sub.psubscribe(`${prefix}/0.*`);
    sub.on('pmessage', (_p: string, channel: string) => seen.push(channel));
    const got: string[] = [];
    const fan = await broker.subscribeFanout('celeryev', (m, rk) => got.push(`${rk}:${m.body.toString()}`));
    await broker.publishFanout('celeryev', 'worker.heartbeat', message('hb'));
    await broker.publishFanout('celery.pidbox', '', message('ctl'));
    await waitFor(() => seen.length === 2 && got.length === 1);
    expect(seen.sort()).toEqual([`${prefix}/0.celery.pidbox`, `${prefix}/0.celeryev/worker.heartbeat`]);
    expect(got).toEqual(['worker.heartbeat:hb']);
    await fan.cancel();
    await sub.quit();
  });

  it('keeps a fixed queue order with queueOrderStrategy "priority"', async () => {
    fresh();
    const broker = await open({ queueOrderStrategy: 'priority' });
    for (let i = 0; i < 3; i++) {
      await broker.publish(message(`a${i}`), { exchange: '', routingKey: 'qa' });
      await broker.publish(message(`b${i}`), { exchange: '', routingKey: 'qb' });
    }
    const c = await collect(broker, ['qa', 'qb'], 1, true);
    await waitFor(() => c.got.length === 6);
    expect(c.bodies()).toEqual(['a0', 'a1', 'a2', 'b0', 'b1', 'b2']);
  });

  it('uses custom sep and priority steps', async () => {
    fresh();
    const broker = await open({ sep: ':', prioritySteps: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
    await broker.publish(message('p7'), { exchange: '', routingKey: 'celery' }, { priority: 7 });
    expect(await raw.llen(key('celery:7'))).toBe(1);
  });
});

describe('redis broker: configuration', () => {
  const fails = (fn: () => unknown, setting: RegExp): void => {
    try {
      fn();
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigurationError);
      expect(String((err as Error).message) + (err as ConfigurationError).setting).toMatch(setting);
      expect((err as Error).message).not.toMatch(/hunter2/);
    }
  };

  it('fails fast on bad options and URLs, naming the setting and hiding passwords', () => {
    fails(() => createBroker('redis://:hunter2@127.0.0.1/0', { visibilityTimeout: -1 }), /visibilityTimeout/);
    fails(() => createBroker('redis://:hunter2@127.0.0.1/0', { queue_order_strategy: 'random' }), /queue_order_strategy|queueOrderStrategy/);
    fails(() => createBroker('redis://:hunter2@127.0.0.1/0', { prioritySteps: [3, 1] }), /prioritySteps/);
    fails(() => createBroker('redis://:hunter2@127.0.0.1/x'), /broker_url/);
    fails(() => createBroker('redis://:hunter2@127.0.0.1/0?ssl_cert_reqs=none'), /rediss/);
    fails(() => createBroker('rediss://:hunter2@127.0.0.1/0?ssl_cert_reqs=sometimes'), /ssl_cert_reqs/);
    fails(() => createBroker('sentinel://:hunter2@h1:26379;sentinel://h2:26380'), /masterName/);
  });

  it('accepts socket, sentinel and TLS URLs', () => {
    expect(createBroker('redis+socket:///tmp/redis.sock?virtual_host=3').url).toBe('redis+socket:///tmp/redis.sock?virtual_host=3');
    expect(createBroker('sentinel://:hunter2@h1:26379;sentinel://h2:26380', { masterName: 'mymaster' }).url).not.toMatch(/hunter2/);
    expect(createBroker('rediss://:hunter2@127.0.0.1:6380/0?ssl_cert_reqs=required').url).toBe('rediss://:**@127.0.0.1:6380/0?ssl_cert_reqs=required');
  });
});
