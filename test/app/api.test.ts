/**
 * The calling API exactly as issue 2 fixes it, run for real on the in-memory broker, with its types
 * checked: `npm run lint` type-checks this file, so the `@ts-expect-error` lines must stay errors.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { Celery, type AsyncResult } from '../../src/index.js';

describe('the fixed calling API', () => {
  it('runs as written in the issue', async () => {
    const app = new Celery('proj', { broker: 'memory://api-test', backend: 'memory://api-test', logLevel: 'silent' }, { env: {} });
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const greet = app.task({ name: 'tasks.greet', ignoreResult: false }, async (name: string) => `hi ${name}`);
    const worker = app.worker({ queues: ['celery'], concurrency: 8 });
    await worker.start();
    try {
      const r = await add.delay(2, 2);
      expectTypeOf(r).toEqualTypeOf<AsyncResult<number>>();
      const value = await r.get({ timeout: 10_000 });
      expectTypeOf(value).toEqualTypeOf<number>();
      expect(value).toBe(4);

      const later = await add.applyAsync([2, 2], {}, { countdown: 1, expires: 60, queue: 'celery' });
      expect(await later.get({ timeout: 10_000 })).toBe(4);

      const byName = await app.sendTask('tasks.add', [2, 2]);
      expectTypeOf(byName).toEqualTypeOf<AsyncResult<unknown>>();
      expect(await byName.get({ timeout: 10_000 })).toBe(4);

      const greeting = await greet.delay('you');
      expectTypeOf(await greeting.get()).toEqualTypeOf<string>();
      expect(await greet.run('me')).toBe('hi me');
      expect(await add.run(1, 2)).toBe(3);
    } finally {
      await worker.close();
      await app.close();
    }
  });

  it('rejects wrong argument types at compile time', () => {
    const app = new Celery('types', { broker: 'memory://types', backend: null, logLevel: 'silent' }, { env: {} });
    const add = app.task('tasks.add', (x: number, y: number) => x + y);
    const compileOnly = () => {
      // @ts-expect-error a string is not a number
      void add.delay('2', 2);
      // @ts-expect-error too few arguments
      void add.delay(2);
      // @ts-expect-error positional args must match the signature when no kwargs are given
      void add.applyAsync(['x', 2]);
      // @ts-expect-error the result is a number
      void add.delay(1, 2).then((r) => r.get()).then((v: string) => v);
    };
    expect(typeof compileOnly).toBe('function');
  });
});
