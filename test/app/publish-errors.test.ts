/** Publishing to a dead broker: retried with Celery's policy, then one clear error; never a hang. */
import { expect, it, vi } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import { BrokerConnectionError } from '../../src/errors.js';
import { within } from '../helpers/wait.js';

it('delay() on a dead Redis retries per retryPolicy, then rejects with a clear, redacted error', async () => {
  // Port 1 refuses connections at once; the password must never show.
  const app = new Celery('dead', { broker: 'redis://:hunter2@127.0.0.1:1/0', backend: null, logLevel: 'silent' }, { env: {} });
  const warn = vi.spyOn(app.log, 'warn');
  const error = vi.spyOn(app.log, 'error');
  try {
    const task = app.task('t.dead', () => 1);
    const started = Date.now();
    const failure = await within(
      task.applyAsync([], undefined, { retryPolicy: { maxRetries: 2, intervalStart: 0, intervalStep: 0.05, intervalMax: 0.1 } }).catch((e: unknown) => e),
      20_000,
      'delay() on a dead broker',
    );
    expect(failure).toBeInstanceOf(BrokerConnectionError);
    expect((failure as Error).message).toMatch(/could not send t\.dead\[[0-9a-f-]+\] to broker redis:\/\/:\*\*@127\.0\.0\.1:1\/0 after 3 attempts/);
    expect((failure as Error).message).not.toContain('hunter2');
    expect(Date.now() - started).toBeLessThan(15_000);
    const retries = warn.mock.calls.filter((call) => call[1] === 'publish failed, retrying');
    expect(retries).toHaveLength(2);
    expect(JSON.stringify([...warn.mock.calls, ...error.mock.calls])).not.toContain('hunter2');
  } finally {
    await app.close();
  }
});
