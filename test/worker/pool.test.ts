import { describe, expect, it } from 'vitest';
import { AsyncPool } from '../../src/worker/pool.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('AsyncPool', () => {
  it('runs at most `concurrency` jobs, FIFO, and reports idleness', async () => {
    const gates = [deferred(), deferred(), deferred()];
    const started: number[] = [];
    const pool = new AsyncPool<number>(2, async (i) => {
      started.push(i);
      await gates[i]!.promise;
    });
    [0, 1, 2].forEach((i) => pool.submit(i));
    expect(started).toEqual([0, 1]);
    expect(pool.reserved).toEqual([2]);
    gates[0]!.resolve();
    await Promise.resolve();
    await Promise.resolve();
    await Promise.resolve();
    expect(started).toEqual([0, 1, 2]);
    const idle = pool.whenIdle();
    gates[1]!.resolve();
    gates[2]!.resolve();
    await idle;
    expect(pool.active).toEqual([]);
  });

  it('hands back jobs that have not started, and can be resized', async () => {
    const gate = deferred();
    const pool = new AsyncPool<number>(1, () => gate.promise);
    [1, 2, 3].forEach((i) => pool.submit(i));
    expect(pool.takeWaiting()).toEqual([2, 3]);
    pool.resize(3);
    expect(pool.size).toBe(3);
    expect(() => pool.resize(0)).toThrow(RangeError);
    gate.resolve();
    await pool.whenIdle();
  });
});
