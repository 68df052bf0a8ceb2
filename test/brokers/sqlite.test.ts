import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createBroker } from '../../src/brokers/index.js';
import { sqlitePathFromUrl } from '../../src/brokers/sqlite/database.js';
import type { Broker, Delivery } from '../../src/brokers/types.js';
import { ConfigurationError } from '../../src/errors.js';
import { decodeEnvelope } from '../../src/protocol/envelope.js';
import type { TransportMessage } from '../../src/protocol/types.js';
import { brokerConformance } from '../conformance/broker.suite.js';
import { spawnTs, type Child } from '../helpers/child.js';
import { waitFor } from '../helpers/wait.js';
import { message } from '../conformance/broker-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-sqlite-broker-'));
const file = join(dir, 'broker.db');
const url = `sqlite:///${file}`; // absolute path: sqlite:////tmp/…
const CHILD = 'test/helpers/sqlite-broker-child.ts';
afterAll(() => rmSync(dir, { recursive: true, force: true }));

brokerConformance('sqlite', async (transportOptions, logger) => {
  const broker = createBroker(url, transportOptions, logger);
  await broker.connect();
  return broker;
});

const text = (body: string): TransportMessage => message(body, { contentType: 'text/plain' });

let seq = 0;
const uniq = (prefix: string): string => `${prefix}-${process.pid}-${++seq}`;

describe('sqlite broker: storage', () => {
  const brokers: Broker[] = [];
  const children: Child[] = [];
  const open = async (options?: Record<string, unknown>): Promise<Broker> => {
    const broker = createBroker(url, options);
    brokers.push(broker);
    await broker.connect();
    return broker;
  };
  const child = (mode: string, name: string, options: Record<string, unknown> = {}): Child => {
    const c = spawnTs(CHILD, [mode, url, name, JSON.stringify(options)]);
    children.push(c);
    return c;
  };
  const raw = (): Database.Database => new Database(file, { readonly: true });

  afterEach(async () => {
    for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await Promise.all(brokers.splice(0).map((b) => b.close()));
  });

  it('stores a kombu envelope as the payload', async () => {
    const broker = await open();
    const q = uniq('env');
    await broker.publish({ ...text('payload'), headers: { task: 't' } }, { exchange: '', routingKey: q }, { priority: 3 });
    const db = raw();
    const row = db.prepare('SELECT * FROM celeriac_messages WHERE queue = ?').get(q) as Record<string, unknown>;
    db.close();
    expect(row).toMatchObject({ queue: q, priority: 3, exchange: '', routing_key: q, delivery_tag: null, delivery_count: 0 });
    const envelope = JSON.parse(row.payload as string) as Record<string, unknown>;
    expect(Object.keys(envelope)).toEqual(['body', 'content-encoding', 'content-type', 'headers', 'properties']);
    expect(envelope.properties).toMatchObject({
      body_encoding: 'base64',
      priority: 3,
      delivery_info: { exchange: '', routing_key: q },
    });
    expect(decodeEnvelope(row.payload as string).body.toString()).toBe('payload');
  });

  it('uses WAL mode and records its schema version', async () => {
    await open();
    const db = raw();
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare("SELECT version FROM celeriac_schema WHERE component = 'broker'").pluck().get()).toBe(1);
    db.close();
  });

  it('reserves in index order without sorting', async () => {
    await open();
    const db = raw();
    const plan = db
      .prepare(
        `EXPLAIN QUERY PLAN SELECT id FROM celeriac_messages INDEXED BY celeriac_messages_order
         WHERE queue = ? AND visible_at <= ? ORDER BY priority, visible_at, id LIMIT 10`,
      )
      .all('q', 0) as { detail: string }[];
    db.close();
    expect(plan.map((p) => p.detail).join('\n')).not.toMatch(/TEMP B-TREE/);
  });

  it('dead-letters a row it cannot decode instead of retrying it forever', async () => {
    const warnings: string[] = [];
    const broker = createBroker(url, {}, { warn: (m) => warnings.push(m), error: () => undefined });
    brokers.push(broker);
    const q = uniq('bad');
    const db = new Database(file);
    db.prepare(
      `INSERT INTO celeriac_messages (queue, priority, exchange, routing_key, payload, visible_at, created_at)
       VALUES (?, 0, '', ?, 'not json', 0, 0)`,
    ).run(q, q);
    db.close();
    await broker.publish(text('good'), { exchange: '', routingKey: q });
    const got: Delivery[] = [];
    await broker.consume([q], (d) => got.push(d), { prefetch: 1 });
    await waitFor(() => got.length === 1);
    expect(got[0]?.message.body.toString()).toBe('good');
    expect(warnings.some((w) => /malformed/.test(w))).toBe(true);
    expect(await (broker as Broker & { deadLetterCount(q: string): Promise<number> }).deadLetterCount(q)).toBe(1);
  });

  it('prunes fanout rows older than a minute', async () => {
    const broker = await open();
    const db = new Database(file);
    db.prepare("INSERT INTO celeriac_fanout (exchange, routing_key, payload, created_at) VALUES ('old', '', '{}', ?)").run(
      Date.now() - 120_000,
    );
    await broker.publishFanout(uniq('ex'), '', text('new'));
    expect(db.prepare("SELECT count(*) FROM celeriac_fanout WHERE exchange = 'old'").pluck().get()).toBe(0);
    db.close();
  });

  describe('across processes', () => {
    it('consumes what a child process published', async () => {
      const q = uniq('xproc');
      const publisher = child('publish', q, { count: 5 });
      await publisher.next((e) => e.event === 'published');
      expect(await publisher.exited).toBe(0);
      const broker = await open();
      const got: string[] = [];
      await broker.consume([q], (d) => void d.ack().then(() => got.push(d.message.body.toString())), { prefetch: 2 });
      await waitFor(() => got.length === 5, 5000, 'five messages from the child');
      expect(got).toEqual(['child-0', 'child-1', 'child-2', 'child-3', 'child-4']);
    });

    it('redelivers a message reserved by a process that was SIGKILLed, once its visibility lapses', async () => {
      const q = uniq('killed');
      const broker = await open();
      await broker.publish(text('survivor'), { exchange: '', routingKey: q });
      const holder = child('hold', q, { transport: { visibilityTimeout: 0.5 } });
      await holder.next((e) => e.event === 'reserved');
      const reservedAt = Date.now();
      expect(await broker.queueSize(q)).toBe(0);
      holder.proc.kill('SIGKILL');
      await holder.exited;
      const got: Delivery[] = [];
      await broker.consume([q], (d) => got.push(d), { prefetch: 1 });
      await waitFor(() => got.length === 1, 10_000, 'redelivery after the holder died');
      expect(Date.now() - reservedAt).toBeGreaterThanOrEqual(250); // only after the 0.5 s visibility lapsed
      expect(got[0]?.redelivered).toBe(true);
      expect(got[0]?.message.headers.redelivered).toBe(true);
      await got[0]?.ack();
      expect(await broker.queueSize(q)).toBe(0);
    });

    it('shares one queue between competing processes without duplicates', async () => {
      const q = uniq('compete');
      const total = 200;
      const consumers = [child('consume', q, { prefetch: 5 }), child('consume', q, { prefetch: 5 })];
      await Promise.all(consumers.map((c) => c.next((e) => e.event === 'ready')));
      const broker = await open();
      for (let i = 0; i < total; i++) await broker.publish(text(`m${i}`), { exchange: '', routingKey: q });
      const bodies = (): string[] => consumers.flatMap((c) => c.events.filter((e) => e.event === 'got').map((e) => String(e.body)));
      await waitFor(() => bodies().length >= total, 20_000, 'all messages consumed');
      for (const c of consumers) c.send('stop\n');
      await Promise.all(consumers.map((c) => c.next((e) => e.event === 'closed')));
      expect(bodies()).toHaveLength(total);
      expect(new Set(bodies()).size).toBe(total);
      expect(await broker.queueSize(q)).toBe(0);
    });

    it('delivers fanout messages published by another process', async () => {
      const ex = uniq('fan');
      const broker = await open({ pollingInterval: 0.05 });
      const got: string[] = [];
      await broker.subscribeFanout(ex, (m, rk) => got.push(`${rk}:${m.body.toString()}`));
      const publisher = child('fanout', ex);
      await publisher.next((e) => e.event === 'published');
      await waitFor(() => got.length === 1, 5000, 'fanout from the child');
      expect(got).toEqual(['from.child:from-child']);
    });
  });
});

describe('sqlite broker: configuration', () => {
  const madeDirs = mkdtempSync(join(tmpdir(), 'celeriac-sqlite-config-'));
  afterAll(() => rmSync(madeDirs, { recursive: true, force: true }));

  it('parses SQLAlchemy-style URLs', () => {
    const schemes = ['sqlite', 'sqla+sqlite'];
    expect(sqlitePathFromUrl('sqlite:///relative/path.db', 'broker_url', schemes)).toBe(resolve('relative/path.db'));
    expect(sqlitePathFromUrl('sqlite:////abs/path.db', 'broker_url', schemes)).toBe('/abs/path.db');
    expect(sqlitePathFromUrl('sqla+sqlite:////abs/x.db', 'broker_url', schemes)).toBe('/abs/x.db');
    expect(sqlitePathFromUrl('sqlite:////abs/with%20space.db', 'broker_url', schemes)).toBe('/abs/with space.db');
  });

  it.each([
    'sqlite://host/path.db',
    'sqlite:///',
    'sqlite:///:memory:',
    'sqlite:///x.db?timeout=1',
    'sqlite:/x.db',
  ])('rejects %s naming broker_url', (bad) => {
    try {
      createBroker(bad);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigurationError);
      expect((err as ConfigurationError).setting).toBe('broker_url');
    }
  });

  it('rejects unknown schemes, listing the supported ones, without leaking passwords', () => {
    try {
      createBroker('kafka://user:hunter2@localhost:9092/0');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigurationError);
      const message = (err as Error).message;
      expect(message).toMatch(/broker_url/);
      expect(message).toMatch(/memory:\/\/.*sqlite:\/\/.*sqla\+sqlite:\/\/.*redis:\/\//);
      expect(message).not.toMatch(/hunter2/);
    }
  });

  it('validates transport options, naming the option', () => {
    expect(() => createBroker(url, { visibilityTimeout: 0 })).toThrow(/broker_transport_options\.visibilityTimeout/);
    expect(() => createBroker(url, { pollingInterval: 'fast' })).toThrow(/broker_transport_options\.pollingInterval/);
    expect(() => createBroker(url, { polling_interval: 3600 })).toThrow(/polling_interval/);
    expect(() => createBroker(url, { polling_interval: 0.05, visibility_timeout: 30 })).not.toThrow();
  });

  it('creates parent directories on connect, not before', async () => {
    const target = join(madeDirs, 'nested', 'deeper', 'b.db');
    const broker = createBroker(`sqla+sqlite:///${target}`);
    expect(existsSync(target)).toBe(false);
    await broker.connect();
    expect(existsSync(target)).toBe(true);
    expect(broker.transport).toBe('sqlite');
    await broker.close();
  });
});
