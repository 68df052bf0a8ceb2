/**
 * Compile-time checks of the typed canvas (run by `tsc` in `npm run lint`, and by vitest's
 * expectTypeOf): each chain step must accept the previous step's result, and the final result type
 * flows to `get()`. `@ts-expect-error` lines fail the build if they ever start compiling.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { Celery } from '../../src/app/celery.js';
import type { AsyncResult } from '../../src/app/result.js';
import { chain, chord, group, type GroupResult } from '../../src/canvas/index.js';

const app = new Celery('types', { broker: 'memory://types', backend: 'memory://types', logLevel: 'silent' }, { env: {} });
const add = app.task('add', (x: number, y: number) => x + y);
const mul = app.task('mul', (x: number, y: number) => x * y);
const upper = app.task('upper', (s: string) => s.toUpperCase());
const len = app.task('len', (s: string) => s.length);
const tsum = app.task('tsum', (nums: number[]) => nums.reduce((a, b) => a + b, 0));
const loose = app.task('loose', (...args: unknown[]) => args.length);

describe('typed canvas', () => {
  it('chain(add.s(1, 2), mul.s(3)) is a chain of numbers whose get() gives a number', () => {
    const c = chain(add.s(1, 2), mul.s(3));
    expectTypeOf(c.applyAsync).returns.resolves.toEqualTypeOf<AsyncResult<number>>();
    const mixed = chain(add.s(1, 2), mul.s(3), add.si(1, 1), upper.si('a'), len.s());
    expectTypeOf(mixed.delay).returns.resolves.toEqualTypeOf<AsyncResult<number>>();
  });

  it('the final type flows to get()', () => {
    // Compiled, not run: a value of the wrong type would fail the build.
    const compileOnly = async () => {
      const value: number = await (await chain(add.s(1, 2), mul.s(3)).delay()).get();
      const values: [number, string] = await (await group(add.s(1, 2), upper.s('x')).delay()).get();
      // @ts-expect-error the chain's result is a number, not a string
      const wrong: string = await (await chain(add.s(1, 2), mul.s(3)).delay()).get();
      return [value, values, wrong];
    };
    expectTypeOf(compileOnly).returns.resolves.toEqualTypeOf<(string | number | [number, string])[]>();
  });

  it('rejects a step that does not accept the previous result', () => {
    // @ts-expect-error upper takes a string, add returns a number
    chain(add.s(1, 2), upper.s());
    // @ts-expect-error a complete, mutable signature cannot receive the previous result
    chain(add.s(1, 2), add.s(3, 4));
    // @ts-expect-error the pipe form checks the same way
    add.s(1, 2).pipe(upper.s());
    // @ts-expect-error a chord body must accept the list of header results
    chord([add.s(1, 1), add.s(2, 2)], upper.s());
  });

  it('pipe, group and chord carry their result types', () => {
    const piped = add.s(1, 2).pipe(mul.s(3)).pipe(upper.si('x'));
    expectTypeOf(piped.delay).returns.resolves.toEqualTypeOf<AsyncResult<string>>();
    const g = group(add.s(1, 2), upper.s('x'));
    expectTypeOf(g.delay).returns.resolves.toEqualTypeOf<GroupResult<[number, string]>>();
    const c = chord([add.s(1, 1), add.s(2, 2)], tsum.s());
    expectTypeOf(c.delay).returns.resolves.toEqualTypeOf<AsyncResult<number>>();
    const afterGroup = chain(add.s(1, 1), group(add.s(1), mul.s(2)), tsum.s());
    expectTypeOf(afterGroup.delay).returns.resolves.toEqualTypeOf<AsyncResult<number>>();
  });

  it('untyped tasks are not checked', () => {
    chain(add.s(1, 2), loose.s(1), mul.s(2));
    chain(add.s(1, 2), loose.s('anything'), mul.s(2));
  });
});
