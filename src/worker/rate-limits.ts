/**
 * Rate limits in the worker: per task and per worker (a token bucket, Celery's `rate_limit`), and
 * optionally cluster-wide (`globalRateLimit`, one GCRA schedule in Redis shared by every worker).
 * A request over its limit waits here, outside the pool, so it holds no concurrency slot; it is
 * still reserved (unacked), so a warm shutdown hands it back. Limits can change at runtime.
 */
import type { Redis } from 'ioredis';
import { parseRedisUrl, openRedis, REDIS_SCHEMES } from '../brokers/redis/connection.js';
import { ConfigurationError } from '../errors.js';
import { urlScheme } from '../utils/url.js';
import { GlobalRateLimiter } from './limits/global-rate.js';
import { parseRateLimit, TokenBucket, type RateLimit } from './limits/rate.js';
import type { WorkerRuntime } from './middleware.js';
import type { TaskRequest } from './request.js';

export class RateLimitGate {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly localOverrides = new Map<string, number>();
  private readonly globalOverrides = new Map<string, number>();
  private readonly waiting = new Map<string, TaskRequest[]>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly draining = new Set<string>();
  private global: { limiter: GlobalRateLimiter; client: Redis } | null = null;
  private closed = false;

  constructor(
    private readonly runtime: WorkerRuntime,
    private readonly submit: (request: TaskRequest) => void,
  ) {}

  /** Run `request` now if no limit holds it back, else when its limits allow. */
  admit(request: TaskRequest): void {
    const name = request.name;
    // The common case, no limit anywhere, is decided without parsing anything.
    const options = request.task.options;
    const conf = this.runtime.app.conf;
    const unlimited =
      this.localOverrides.size === 0 &&
      this.globalOverrides.size === 0 &&
      !options.rateLimit &&
      !options.globalRateLimit &&
      !conf.taskDefaultRateLimit;
    if ((unlimited || (!this.localRate(request) && !this.globalRate(request))) && !this.waiting.get(name)?.length) {
      this.submit(request);
      return;
    }
    let queue = this.waiting.get(name);
    if (!queue) this.waiting.set(name, (queue = []));
    queue.push(request);
    void this.drain(name);
  }

  /** Change a task's per-worker limit at runtime (Celery's `rate_limit` remote command). */
  setRateLimit(taskName: string, rate: RateLimit): void {
    this.localOverrides.set(taskName, parseRateLimit(rate));
    this.buckets.delete(taskName);
    this.kick(taskName);
  }

  /** Change a task's cluster-wide limit as this worker applies it. */
  setGlobalRateLimit(taskName: string, rate: RateLimit): void {
    this.globalOverrides.set(taskName, parseRateLimit(rate));
    this.kick(taskName);
  }

  /** Requests waiting for their limit, removed (warm shutdown gives them back). */
  takeWaiting(): TaskRequest[] {
    const out = [...this.waiting.values()].flat();
    this.waiting.clear();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    return out;
  }

  get waitingCount(): number {
    let n = 0;
    for (const queue of this.waiting.values()) n += queue.length;
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.takeWaiting();
    this.global?.client.disconnect();
    this.global = null;
  }

  private kick(taskName: string): void {
    const timer = this.timers.get(taskName);
    if (timer) clearTimeout(timer);
    this.timers.delete(taskName);
    void this.drain(taskName);
  }

  private localRate(request: TaskRequest): number {
    if (this.runtime.app.conf.workerDisableRateLimits) return 0;
    const override = this.localOverrides.get(request.name);
    if (override !== undefined) return override;
    return parseRateLimit(request.task.options.rateLimit ?? this.runtime.app.conf.taskDefaultRateLimit);
  }

  private globalRate(request: TaskRequest): number {
    if (this.runtime.app.conf.workerDisableRateLimits) return 0;
    return this.globalOverrides.get(request.name) ?? parseRateLimit(request.task.options.globalRateLimit);
  }

  private bucket(name: string, rate: number): TokenBucket {
    let bucket = this.buckets.get(name);
    if (!bucket || bucket.rate !== rate) this.buckets.set(name, (bucket = new TokenBucket(rate)));
    return bucket;
  }

  /** Let through as many waiting requests of `name` as the limits allow, then sleep until the next. */
  private async drain(name: string): Promise<void> {
    if (this.draining.has(name) || this.timers.has(name) || this.closed) return;
    this.draining.add(name);
    try {
      for (;;) {
        const request = this.waiting.get(name)?.[0];
        if (!request) return;
        const local = this.localRate(request);
        const bucket = local ? this.bucket(name, local) : null;
        const localWait = bucket?.msUntilAvailable() ?? 0;
        if (localWait > 0) return this.sleep(name, localWait);
        const global = this.globalRate(request);
        if (global) {
          const globalWait = await this.takeGlobal(name, global);
          if (globalWait > 0) return this.sleep(name, globalWait);
        }
        bucket?.tryConsume();
        this.waiting.get(name)?.shift();
        this.submit(request);
      }
    } finally {
      this.draining.delete(name);
    }
  }

  private sleep(name: string, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(name);
      void this.drain(name);
    }, Math.max(1, Math.ceil(ms)));
    this.timers.set(name, timer);
  }

  /** Take a cluster-wide slot; on a Redis error, wait a second rather than run unlimited. */
  private async takeGlobal(name: string, rate: number): Promise<number> {
    try {
      return await this.globalLimiter().take(name, rate);
    } catch (err) {
      this.runtime.log.warn({ task: name, err: (err as Error).message }, 'global rate limit unavailable; retrying in 1 s');
      return 1000;
    }
  }

  private globalLimiter(): GlobalRateLimiter {
    if (!this.global) {
      const url = globalRateLimitUrl(this.runtime.app.conf);
      const client = openRedis(parseRedisUrl(url, {}, 'global_rate_limit_url', 'global_rate_limit_url'), { maxRetriesPerRequest: 1 });
      client.on('error', () => undefined); // reported by takeGlobal, per attempt
      this.global = { client, limiter: new GlobalRateLimiter(client) };
    }
    return this.global.limiter;
  }
}

/** Where cluster-wide limits live: the setting, else the broker or the result backend if Redis. */
export function globalRateLimitUrl(conf: { globalRateLimitUrl: string | null; brokerUrl: string; resultBackend: string | null }): string {
  const isRedis = (url: string | null): url is string => url !== null && (REDIS_SCHEMES as readonly string[]).includes(urlScheme(url) ?? '');
  if (conf.globalRateLimitUrl) return conf.globalRateLimitUrl;
  if (isRedis(conf.brokerUrl)) return conf.brokerUrl;
  if (isRedis(conf.resultBackend)) return conf.resultBackend;
  throw new ConfigurationError('global_rate_limit_url', 'a task has globalRateLimit, which needs Redis: set globalRateLimitUrl, or use a Redis broker or result backend');
}
