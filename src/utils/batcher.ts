/**
 * Collect calls made in the same tick and run them as one batch: many acks or result writes become
 * one Redis script call instead of one command (and one promise chain in the client) each. Every
 * call of a batch gets the batch's one promise: it settles when the batch has been written.
 */
export class Batcher<T> {
  private pending: T[] = [];
  private settle: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | null = null;
  private scheduled = false;
  /** Size of the last batch flushed (1 before the first), for `loneAtOnce`. */
  private lastBatchSize = 1;
  /** An item went out at once in this turn: the turn's next items wait and go together. */
  private flushedAtOnce = false;

  /**
   * `loneAtOnce`: while batches hold one item each (calls one at a time: an idle worker's result, a
   * client's lone message), an item is flushed as it is added instead of after the turn's other
   * microtasks, which no other item would join. The first batch of a burst therefore goes alone;
   * from then on the burst's items share writes until a batch is single again.
   */
  constructor(
    private readonly flush: (items: T[]) => Promise<void>,
    private readonly maxBatch = 500,
    private readonly loneAtOnce = false,
  ) {}

  add(item: T): Promise<void> {
    this.pending.push(item);
    const settle = (this.settle ??= deferred());
    if (this.pending.length >= this.maxBatch) this.run();
    else if (this.loneAtOnce && this.lastBatchSize === 1 && this.pending.length === 1 && !this.scheduled && !this.flushedAtOnce) {
      this.flushedAtOnce = true;
      queueMicrotask(this.endTurn);
      this.run();
    } else if (!this.scheduled) {
      this.scheduled = true;
      // A microtask, not setImmediate: everything added in this turn still goes together, and the
      // client's own write (ioredis auto-pipelining runs on setImmediate) still happens in this
      // loop iteration instead of the next one.
      queueMicrotask(this.runScheduled);
    }
    return settle.promise;
  }

  private readonly endTurn = (): void => {
    this.flushedAtOnce = false;
  };

  private readonly runScheduled = (): void => {
    this.scheduled = false;
    this.run();
  };

  private run(): void {
    const batch = this.pending;
    const settle = this.settle;
    if (batch.length === 0 || !settle) return;
    this.pending = [];
    this.settle = null;
    this.lastBatchSize = batch.length;
    let written: Promise<void>;
    try {
      written = this.flush(batch);
    } catch (err) {
      written = Promise.reject(err);
    }
    written.then(settle.resolve, settle.reject);
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
