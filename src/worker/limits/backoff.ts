/**
 * Retry countdowns, as Celery computes them (`celery/utils/time.py::get_exponential_backoff_interval`
 * and `Task.retry`'s `autoretry` settings). Pure: `random` is injectable for tests.
 */

export interface BackoffOptions {
  /** `true` is a factor of 1 second; a number is the factor in seconds; false/0 turns backoff off. */
  retryBackoff: boolean | number;
  /** Seconds; the countdown never exceeds this (Celery's default 600). */
  retryBackoffMax?: number;
  /** Pick a random countdown in [0, countdown] (full jitter; Celery's default true). */
  retryJitter?: boolean;
}

/** Seconds to wait before retry number `retries + 1`: min(max, factor × 2^retries), then full jitter. */
export function exponentialBackoff(factor: number, retries: number, maximum: number, fullJitter: boolean, random: () => number = Math.random): number {
  let countdown = Math.min(maximum, factor * 2 ** retries);
  // Python's randrange(countdown + 1) on an integer countdown: a whole number of seconds in [0, countdown].
  if (fullJitter) countdown = Math.floor(random() * (Math.floor(countdown) + 1));
  return Math.max(0, countdown);
}

/** The countdown for an autoretry with `retryBackoff` set, or null when backoff is off. */
export function backoffCountdown(options: BackoffOptions, retries: number, random?: () => number): number | null {
  // Celery int()s the factor: `retry_backoff=True` is 1 s, 2.7 is 2 s.
  const factor = options.retryBackoff === true ? 1 : Math.trunc(Number(options.retryBackoff || 0));
  if (!factor) return null;
  return exponentialBackoff(factor, retries, options.retryBackoffMax ?? 600, options.retryJitter ?? true, random);
}
