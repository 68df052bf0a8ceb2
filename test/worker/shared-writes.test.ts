import { describe, expect, it } from 'vitest';
import { SharedWrites, type FailedBatch } from '../../src/worker/shared-writes.js';

function deferred(): { promise: Promise<void>; resolve(): void; reject(err: unknown): void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('SharedWrites', () => {
  it('counts calls sharing a promise as one batch, and reports a failed batch once with its first ids', async () => {
    const failures: FailedBatch[] = [];
    const writes = new SharedWrites((_err, batch) => failures.push({ ...batch, ids: [...batch.ids] }));
    const first = deferred();
    const second = deferred();
    for (let i = 0; i < 25; i++) writes.add(first.promise, `a${i}`);
    writes.add(second.promise, 'b0');
    expect(writes.outstanding).toBe(26);
    const drained = writes.drain();
    first.reject(new Error('store down'));
    second.resolve();
    await drained;
    expect(writes.outstanding).toBe(0);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.count).toBe(25);
    expect(failures[0]!.ids).toEqual(Array.from({ length: 20 }, (_, i) => `a${i}`));
  });

  it('drain waits for writes added while it waits', async () => {
    const writes = new SharedWrites(() => undefined);
    const first = deferred();
    const later = deferred();
    writes.add(first.promise, 'x');
    let drained = false;
    const draining = writes.drain().then(() => (drained = true));
    writes.add(later.promise, 'y');
    first.resolve();
    await first.promise;
    await Promise.resolve();
    expect(drained).toBe(false);
    later.resolve();
    await draining;
    expect(writes.outstanding).toBe(0);
  });
});
