/** Retry an async operation with Celery's retry-policy shape (intervals in seconds). */

export interface RetryPolicy {
  /** `null` retries forever. */
  maxRetries?: number | null;
  intervalStart?: number;
  intervalStep?: number;
  intervalMax?: number;
}

export async function retryWithPolicy<T>(
  operation: () => Promise<T>,
  policy: RetryPolicy,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
  shouldRetry: (err: unknown) => boolean = () => true,
): Promise<T> {
  const maxRetries = policy.maxRetries === undefined ? 3 : policy.maxRetries;
  const start = policy.intervalStart ?? 0;
  const step = policy.intervalStep ?? 0.2;
  const max = policy.intervalMax ?? 1;
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (err) {
      if (!shouldRetry(err) || (maxRetries !== null && attempt >= maxRetries)) throw err;
      const delayMs = Math.min(max, start + step * attempt) * 1000;
      onRetry?.(err, attempt + 1, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
