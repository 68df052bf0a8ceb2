/**
 * Condition-based waiting for tests: poll a predicate until it holds or a deadline passes, so tests
 * wait exactly as long as the behaviour takes and fail with a clear message instead of hanging.
 */

export type Predicate = () => boolean | Promise<boolean>;

const POLL_MS = 5;

/** Resolve once `predicate` returns true; reject after `timeoutMs` naming `what`. */
export async function waitFor(predicate: Predicate, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() >= deadline) throw new Error(`waitFor: ${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * Check that `predicate` keeps holding for `ms` (for "nothing else arrives" assertions). Fails as soon
 * as it stops holding; passing is only as strong as the window, so keep windows well above the
 * timings under test.
 */
export async function holdsFor(predicate: Predicate, ms: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!(await predicate())) throw new Error(`holdsFor: ${what} stopped holding`);
    if (Date.now() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Race `promise` against a deadline, so a hung operation fails the test instead of the timeout. */
export async function within<T>(promise: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`within: ${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
