import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/utils/batcher.js';

/** A batcher that records each flush's items, and when each flush ran relative to `marks`. */
function recording(loneAtOnce: boolean, maxBatch = 500) {
  const flushes: number[][] = [];
  const events: string[] = [];
  const batcher = new Batcher<number>(
    async (items) => {
      flushes.push(items);
      events.push(`flush ${items.join(',')}`);
    },
    maxBatch,
    loneAtOnce,
  );
  return { batcher, flushes, events };
}

describe('Batcher', () => {
  it('collects the items added in one turn into one flush, after the turn', async () => {
    const { batcher, flushes, events } = recording(false);
    const done = [batcher.add(1), batcher.add(2), batcher.add(3)];
    events.push('added');
    await Promise.all(done);
    expect(flushes).toEqual([[1, 2, 3]]);
    expect(events).toEqual(['added', 'flush 1,2,3']);
  });

  it('flushes at once when the batch is full', async () => {
    const { batcher, flushes } = recording(false, 2);
    const done = [batcher.add(1), batcher.add(2)];
    expect(flushes).toEqual([[1, 2]]);
    done.push(batcher.add(3));
    await Promise.all(done);
    expect(flushes).toEqual([[1, 2], [3]]);
  });

  it('with loneAtOnce, writes a lone item as it is added, before the rest of the turn', async () => {
    const { batcher, events } = recording(true);
    const first = batcher.add(1);
    events.push('after add');
    await first;
    // Calls one at a time: each goes out as it is added.
    for (const n of [2, 3]) {
      const p = batcher.add(n);
      events.push(`after add ${n}`);
      await p;
    }
    expect(events).toEqual(['flush 1', 'after add', 'flush 2', 'after add 2', 'flush 3', 'after add 3']);
  });

  it('with loneAtOnce, a burst sends its first item alone and the rest together, then keeps batching', async () => {
    const { batcher, flushes } = recording(true);
    await Promise.all([1, 2, 3, 4].map((n) => batcher.add(n)));
    expect(flushes).toEqual([[1], [2, 3, 4]]);
    // The last batch held several: the next turn's items wait for each other.
    await Promise.all([5, 6].map((n) => batcher.add(n)));
    expect(flushes).toEqual([[1], [2, 3, 4], [5, 6]]);
    // A single item in a turn makes the batcher send the next one at once again.
    await batcher.add(7);
    const eighth = batcher.add(8);
    expect(flushes.at(-1)).toEqual([8]);
    await eighth;
    expect(flushes).toEqual([[1], [2, 3, 4], [5, 6], [7], [8]]);
  });

  it('gives every item of a batch the batch outcome, a failure included', async () => {
    let fail = true;
    const batcher = new Batcher<number>(async () => {
      if (fail) throw new Error('store down');
    }, 500, true);
    const lone = batcher.add(1);
    await expect(lone).rejects.toThrow('store down');
    const burst = [batcher.add(2), batcher.add(3)];
    await expect(Promise.all(burst)).rejects.toThrow('store down');
    fail = false;
    await expect(batcher.add(4)).resolves.toBeUndefined();
  });
});
