import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { backoffCountdown, exponentialBackoff } from '../../src/worker/limits/backoff.js';
import { GlobalRateLimiter } from '../../src/worker/limits/global-rate.js';
import { parseRateLimit, TokenBucket } from '../../src/worker/limits/rate.js';

describe('parseRateLimit (Celery syntax)', () => {
  it('reads per-second, per-minute and per-hour rates', () => {
    expect(parseRateLimit('10/s')).toBe(10);
    expect(parseRateLimit('200/m')).toBeCloseTo(200 / 60);
    expect(parseRateLimit('100/h')).toBeCloseTo(100 / 3600);
    expect(parseRateLimit('5')).toBe(5);
    expect(parseRateLimit('0.5/s')).toBe(0.5);
    expect(parseRateLimit(2.5)).toBe(2.5);
  });

  it('treats empty and zero as no limit', () => {
    for (const none of [null, undefined, '', 0, '0/s']) expect(parseRateLimit(none)).toBe(0);
  });

  it('rejects what Celery would not parse', () => {
    for (const bad of ['10/d', 'ten/s', '-1/s', '/s', '1/s/s']) expect(() => parseRateLimit(bad)).toThrow(/invalid rate limit/);
    expect(() => parseRateLimit(-3)).toThrow(/invalid rate limit/);
    expect(() => parseRateLimit(Number.NaN)).toThrow(/invalid rate limit/);
  });
});

describe('TokenBucket (kombu semantics)', () => {
  it('starts full, then refills at the fill rate', () => {
    let now = 0;
    const bucket = new TokenBucket(2, 1, () => now);
    expect(bucket.tryConsume()).toBe(true);
    expect(bucket.tryConsume()).toBe(false);
    expect(bucket.msUntilAvailable()).toBeCloseTo(500);
    now = 250;
    expect(bucket.tryConsume()).toBe(false);
    expect(bucket.msUntilAvailable()).toBeCloseTo(250);
    now = 500;
    expect(bucket.tryConsume()).toBe(true);
  });

  it('never holds more than its capacity', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    for (let i = 0; i < 3; i++) expect(bucket.tryConsume()).toBe(true);
    now = 60_000;
    for (let i = 0; i < 3; i++) expect(bucket.tryConsume()).toBe(true);
    expect(bucket.tryConsume()).toBe(false);
  });

  it('changes rate at runtime, keeping what was earned', () => {
    let now = 0;
    const bucket = new TokenBucket(1, 1, () => now);
    bucket.tryConsume();
    now = 500; // half a token earned at 1/s
    bucket.setRate(10);
    expect(bucket.msUntilAvailable()).toBeCloseTo(50);
    expect(() => bucket.setRate(0)).toThrow(RangeError);
  });
});

describe('retry backoff (celery.utils.time.get_exponential_backoff_interval)', () => {
  it('doubles from the factor and caps at the maximum', () => {
    expect([0, 1, 2, 3, 10].map((r) => exponentialBackoff(1, r, 600, false))).toEqual([1, 2, 4, 8, 600]);
    expect(exponentialBackoff(3, 2, 10, false)).toBe(10);
  });

  it('full jitter draws a whole number of seconds in [0, countdown]', () => {
    expect(exponentialBackoff(1, 3, 600, true, () => 0)).toBe(0);
    expect(exponentialBackoff(1, 3, 600, true, () => 0.999999)).toBe(8);
    expect(exponentialBackoff(1, 3, 600, true, () => 0.5)).toBe(4);
  });

  it('maps the task options as Celery does', () => {
    expect(backoffCountdown({ retryBackoff: false }, 2)).toBeNull();
    expect(backoffCountdown({ retryBackoff: true, retryJitter: false }, 2)).toBe(4);
    expect(backoffCountdown({ retryBackoff: 5, retryJitter: false, retryBackoffMax: 12 }, 2)).toBe(12);
  });
});

describe('GlobalRateLimiter (GCRA in Redis)', () => {
  const client = new Redis('redis://127.0.0.1:6379/0', { lazyConnect: true, maxRetriesPerRequest: 1 });
  const prefix = `test-ratelimit-${randomUUID().slice(0, 8)}.`;
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length) await client.del(...keys);
    client.disconnect();
  });

  it('lets `burst` through, then spaces the rest by the interval, shared by every limiter on the key', async () => {
    const a = new GlobalRateLimiter(client, prefix);
    const b = new GlobalRateLimiter(client.duplicate(), prefix);
    expect(await a.take('tasks.add', 10, 2)).toBe(0);
    expect(await b.take('tasks.add', 10, 2)).toBe(0);
    const wait = await a.take('tasks.add', 10, 2);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(100);
    expect(await b.take('tasks.add', 10, 2)).toBeGreaterThan(0); // nothing was taken by the refusal
    expect(await a.take('tasks.other', 10, 1)).toBe(0); // limits are per task name
    await a.reset('tasks.add');
    expect(await b.take('tasks.add', 10, 2)).toBe(0);
  });

  it('admits close to the rate over a window', async () => {
    const limiter = new GlobalRateLimiter(client, prefix);
    const start = Date.now();
    let taken = 0;
    while (taken < 6) {
      const wait = await limiter.take('tasks.window', 50);
      if (wait === 0) taken++;
      else await new Promise((resolve) => setTimeout(resolve, wait));
    }
    // 6 slots at 50/s: the first at once, then 5 intervals of 20 ms.
    expect(Date.now() - start).toBeGreaterThanOrEqual(95);
  });
});
