/** Publishing to a dead broker: retried with Celery's policy, then one clear error; never a hang. */
import { describe, expect, it, vi } from 'vitest';
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

describe('a connected app publishes at once; a failure there goes on under the retry policy', () => {
  const open = async () => {
    const app = new Celery('blip', { broker: 'memory://', backend: null, logLevel: 'silent' }, { env: {} });
    const task = app.task('t.blip', () => 1);
    await task.delay(); // connects and declares the queue
    const broker = await app.connectBroker();
    expect(app.brokerReadyFor('celery')).toBe(broker); // so the next call takes the direct path
    return { app, task, broker, publish: vi.spyOn(broker, 'publish'), warn: vi.spyOn(app.log, 'warn') };
  };
  const policy = { maxRetries: 2, intervalStart: 0, intervalStep: 0.01, intervalMax: 0.02 };

  it('a first attempt that fails is retried, counted as the first of the policy', async () => {
    const { app, task, broker, publish, warn } = await open();
    try {
      publish.mockRejectedValueOnce(new Error('blip'));
      await task.applyAsync([], undefined, { retryPolicy: policy });
      expect(publish).toHaveBeenCalledTimes(2);
      expect(warn.mock.calls.filter((call) => call[1] === 'publish failed, retrying').map((call) => (call[0] as { attempt: number }).attempt)).toEqual([1]);
      expect(await broker.queueSize('celery')).toBe(2);
    } finally {
      await app.close();
    }
  });

  it.each([
    { what: "gives up after the policy's attempts, the first included", options: { retryPolicy: policy }, error: /after 3 attempts: down/, calls: 3 },
    { what: 'with retry off, the first failure is the answer', options: { retry: false }, error: /without retrying \(retry is off\): down/, calls: 1 },
  ])('$what', async ({ options, error, calls }) => {
    const { app, task, publish } = await open();
    try {
      publish.mockRejectedValue(new Error('down'));
      const failure = await task.applyAsync([], undefined, options).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(BrokerConnectionError);
      expect((failure as Error).message).toMatch(error);
      expect(publish).toHaveBeenCalledTimes(calls);
    } finally {
      await app.close();
    }
  });
});
