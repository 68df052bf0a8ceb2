/**
 * A cluster-wide rate limit per task, enforced in Redis so every worker on every machine shares it
 * (Celery's rate limits are per worker only). One Lua script implements GCRA, the generic cell rate
 * algorithm: Redis keeps one "theoretical arrival time" per task, so state is a single key with an
 * expiry, and Redis's own clock is used so workers with skewed clocks agree.
 */
import type { Redis } from 'ioredis';

/**
 * take: consume one slot of the limit if the schedule allows it.
 *   KEYS[1] the limit's key (a number: theoretical arrival time, Unix ms)
 *   ARGV[1] emission interval ms (1000 / rate); ARGV[2] burst (slots that may pass back to back)
 *   returns 0 when a slot was taken, or the milliseconds to wait before asking again
 */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = (tonumber(ARGV[2]) - 1) * interval
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - tolerance > now then return math.ceil(tat - tolerance - now) end
local next_tat = tat + interval
redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil(next_tat - now) + 1000)
return 0
`;

interface TakeScript {
  celeriacRateTake(key: string, intervalMs: number, burst: number): Promise<number>;
}

export class GlobalRateLimiter {
  private readonly client: Redis & TakeScript;

  constructor(
    client: Redis,
    private readonly keyPrefix = 'celeriac.ratelimit.',
  ) {
    client.defineCommand('celeriacRateTake', { lua: TAKE, numberOfKeys: 1 });
    this.client = client as Redis & TakeScript;
  }

  /**
   * Take a slot of `name`'s limit of `perSecond` tasks per second. Resolves 0 when taken, or the
   * milliseconds until one may be free (nothing is taken then; ask again after waiting).
   */
  async take(name: string, perSecond: number, burst = 1): Promise<number> {
    if (!(perSecond > 0)) throw new RangeError(`global rate limit must be positive, got ${perSecond}`);
    return Number(await this.client.celeriacRateTake(this.keyPrefix + name, 1000 / perSecond, Math.max(1, Math.floor(burst))));
  }

  /** Forget `name`'s schedule (after its rate changes, so the old spacing does not linger). */
  async reset(name: string): Promise<void> {
    await this.client.del(this.keyPrefix + name);
  }
}
