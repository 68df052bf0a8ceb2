/** Retry an async operation with Celery's retry-policy shape (intervals in seconds). */

export interface RetryPolicy {
  /** `null` retries forever. */
  maxRetries?: number | null;
  intervalStart?: number;
  intervalStep?: number;
  intervalMax?: number;
}

/** A failure that already happened, passed on as the first attempt's outcome. */
export interface FirstFailure {
  error: unknown;
}

export async function retryWithPolicy<T>(
  operation: () => Promise<T>,
  policy: RetryPolicy,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
  shouldRetry: (err: unknown) => boolean = () => true,
  /** The first attempt was made by the caller and failed with this: retry from the second. */
  firstFailure?: FirstFailure,
): Promise<T> {
  const maxRetries = policy.maxRetries === undefined ? 3 : policy.maxRetries;
  const start = policy.intervalStart ?? 0;
  const step = policy.intervalStep ?? 0.2;
  const max = policy.intervalMax ?? 1;
  let failure = firstFailure;
  for (let attempt = 0; ; attempt++) {
    if (!failure) {
      try {
        return await operation();
      } catch (err) {
        failure = { error: err };
      }
    }
    const err = failure.error;
    failure = undefined;
    if (!shouldRetry(err) || (maxRetries !== null && attempt >= maxRetries)) throw err;
    const delayMs = Math.min(max, start + step * attempt) * 1000;
    onRetry?.(err, attempt + 1, delayMs);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}
