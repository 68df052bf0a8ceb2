/**
 * Celery's rate-limit syntax and kombu's token bucket (`kombu/utils/limits.py`), in pure code.
 *
 * A rate is `'10/s'`, `'200/m'`, `'100/h'`, a bare `'5'` (per second) or a number of tasks per
 * second. Zero, `null` and `''` mean "no limit", as in Celery.
 */

export type RateLimit = string | number | null | undefined;

const PER_SECOND: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** Tasks per second for a Celery rate string; 0 means unlimited. Throws on anything else. */
export function parseRateLimit(rate: RateLimit): number {
  if (rate === null || rate === undefined || rate === '' || rate === 0) return 0;
  if (typeof rate === 'number') {
    if (!Number.isFinite(rate) || rate < 0) throw new RangeError(`invalid rate limit ${rate}: expected a non-negative number of tasks per second`);
    return rate;
  }
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:\/\s*([smh]))?\s*$/.exec(rate);
  if (!match) throw new RangeError(`invalid rate limit '${rate}': expected '<n>/s', '<n>/m', '<n>/h' or a number`);
  return Number(match[1]) / PER_SECOND[match[2] ?? 's']!;
}

/**
 * A token bucket with `capacity` tokens refilled at `fillRate` per second. Starts full, as kombu's,
 * so the first `capacity` calls pass at once. `now` is injectable for tests (milliseconds).
 */
export class TokenBucket {
  private tokens: number;
  private stamp: number;

  constructor(
    private fillRate: number,
    readonly capacity = 1,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    if (!(fillRate > 0)) throw new RangeError(`token bucket fill rate must be positive, got ${fillRate}`);
    this.tokens = capacity;
    this.stamp = now();
  }

  get rate(): number {
    return this.fillRate;
  }

  /** Change the refill rate; tokens already earned are kept. */
  setRate(fillRate: number): void {
    if (!(fillRate > 0)) throw new RangeError(`token bucket fill rate must be positive, got ${fillRate}`);
    this.refill();
    this.fillRate = fillRate;
  }

  /** Take `count` tokens if there are that many; all or nothing. */
  tryConsume(count = 1): boolean {
    this.refill();
    if (count > this.tokens) return false;
    this.tokens -= count;
    return true;
  }

  /** Milliseconds until `count` tokens will be available (0 if they are now). */
  msUntilAvailable(count = 1): number {
    this.refill();
    return count <= this.tokens ? 0 : ((count - this.tokens) / this.fillRate) * 1000;
  }

  private refill(): void {
    const now = this.now();
    if (this.tokens < this.capacity) this.tokens = Math.min(this.capacity, this.tokens + ((now - this.stamp) / 1000) * this.fillRate);
    this.stamp = now;
  }
}
