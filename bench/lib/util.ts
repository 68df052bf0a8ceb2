/** Small helpers shared by the benchmark: polling with a deadline, statistics, Redis DB handling. */
import { Redis } from 'ioredis';

/** Poll `predicate` until it holds; throw after `timeoutMs`. Polling, never a bare sleep. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string),
  pollMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Milliseconds since `start` (a `performance.now()` reading). */
export function since(start: number): number {
  return performance.now() - start;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // Nearest-rank: the smallest value with at least p% of samples at or below it.
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length ? percentile(finite, 50) : Number.NaN;
}

/** Jobs per second for `n` jobs in `ms` milliseconds. */
export function rate(n: number, ms: number): number {
  return (n * 1000) / ms;
}

export function redisUrl(base: string, db: number): string {
  return `${base.replace(/\/+$/, '')}/${db}`;
}

export function redisClient(base: string, db: number): Redis {
  return new Redis(redisUrl(base, db), { maxRetriesPerRequest: 3, lazyConnect: false });
}

/** FLUSHDB on each of `dbs` only (never FLUSHALL: other users share this Redis). */
export async function flushDbs(base: string, dbs: readonly number[]): Promise<void> {
  for (const db of dbs) {
    const client = redisClient(base, db);
    try {
      await client.flushdb();
    } finally {
      client.disconnect();
    }
  }
}

/**
 * Wait until every `celery-task-meta-<id>` key holds a SUCCESS result. Works through the ids oldest
 * first: each poll GETs the oldest unconfirmed key and, only if that one is done, MGETs the next
 * ones 200 at a time until it meets one that is not. So a poll while the worker is behind costs one
 * GET, and the whole wait reads each result about once, leaving Redis to the system under test.
 */
export async function waitForCeleryResults(backend: Redis, ids: readonly string[], timeoutMs: number): Promise<void> {
  const key = (id: string) => `celery-task-meta-${id}`;
  let next = 0;
  await waitFor(
    async () => {
      if (next < ids.length) {
        const head = await backend.getBuffer(key(ids[next]!));
        if (head === null || !isSuccess(head)) return false;
      }
      while (next < ids.length) {
        const batch = ids.slice(next, next + 200);
        const values = await backend.mgetBuffer(batch.map(key));
        const pending = values.findIndex((v) => v === null || !isSuccess(v));
        next += pending === -1 ? batch.length : pending;
        if (pending !== -1) return false;
      }
      return true;
    },
    timeoutMs,
    () => `${ids.length} results (${next} confirmed)`,
    5,
  );
}

function isSuccess(raw: Buffer): boolean {
  const meta = JSON.parse(raw.toString('utf8')) as { status?: string };
  if (meta.status === 'SUCCESS') return true;
  if (meta.status === 'FAILURE') throw new Error(`a task failed: ${raw.toString('utf8').slice(0, 300)}`);
  return false;
}

/** Wait until the counter key reaches `target` (tasks that ignore results INCR it as they finish). */
export async function waitForCounter(client: Redis, key: string, target: number, timeoutMs: number): Promise<void> {
  let seen = 0;
  await waitFor(
    async () => {
      seen = Number((await client.get(key)) ?? 0);
      return seen >= target;
    },
    timeoutMs,
    () => `counter ${key} to reach ${target} (at ${seen})`,
    5,
  );
}

/**
 * The "results ignored" run, the same for every system: `send` enqueues `tasks` tasks that each
 * INCR `bench:done`; timed until the counter has moved by `tasks`.
 */
export async function timeCountedRun(counter: Redis, tasks: number, timeoutMs: number, send: () => Promise<unknown>): Promise<number> {
  const base = Number((await counter.get('bench:done')) ?? 0);
  const start = performance.now();
  await send();
  await waitForCounter(counter, 'bench:done', base + tasks, timeoutMs);
  return since(start);
}

/** Where the early window of round trips starts: after the bench's old warm-up of 1000 calls. */
export const EARLY_AFTER = 1000;

export interface RoundTrips {
  /** The `calls` measured round trips, ms each, after `warmup` unmeasured ones. */
  latenciesMs: number[];
  /**
   * `calls` round trips of the warm-up itself, from call EARLY_AFTER on (empty when the warm-up is
   * shorter): how a system does before its code has run for long, reported beside the steady figure.
   */
  earlyLatenciesMs: number[];
}

/** `calls` sequential round trips, each timed in ms, after `warmup` unmeasured ones. */
export async function timeRoundTrips(calls: number, warmup: number, roundTrip: () => Promise<unknown>): Promise<RoundTrips> {
  const early: number[] = [];
  const earlyEnd = warmup >= EARLY_AFTER + calls ? EARLY_AFTER + calls : 0;
  for (let i = 0; i < warmup; i++) {
    const start = performance.now();
    await roundTrip();
    if (i >= EARLY_AFTER && i < earlyEnd) early.push(since(start));
  }
  const out: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await roundTrip();
    out.push(since(start));
  }
  return { latenciesMs: out, earlyLatenciesMs: early };
}
