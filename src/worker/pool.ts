/**
 * The in-process async pool: runs at most `concurrency` jobs at once, FIFO, and keeps the rest
 * waiting. Waiting items are the worker's reserved (prefetched, not yet started) requests, so they
 * can be handed back to the broker at shutdown.
 */
export class AsyncPool<T> {
  private readonly waiting: T[] = [];
  private readonly running = new Set<T>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private concurrency: number,
    /** Runs one job; a job that finishes synchronously may return nothing. Errors are the job's to report. */
    private readonly run: (item: T) => Promise<void> | void,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  }

  get size(): number {
    return this.concurrency;
  }

  get active(): readonly T[] {
    return [...this.running];
  }

  get reserved(): readonly T[] {
    return [...this.waiting];
  }

  submit(item: T): void {
    this.waiting.push(item);
    this.pump();
  }

  /** Change concurrency at runtime; lowering it lets running jobs finish. */
  resize(concurrency: number): void {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    this.concurrency = concurrency;
    this.pump();
  }

  /** Remove and return every job that has not started. */
  takeWaiting(): T[] {
    return this.waiting.splice(0, this.waiting.length);
  }

  /** Resolves when nothing runs and nothing waits. */
  whenIdle(): Promise<void> {
    if (this.running.size === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.waiting.length > 0) {
      const item = this.waiting.shift() as T;
      this.running.add(item);
      let result: Promise<void> | void;
      try {
        result = this.run(item);
      } catch {
        result = undefined;
      }
      if (result instanceof Promise) {
        const done = (): void => this.finished(item);
        result.then(done, done);
      } else {
        this.running.delete(item);
      }
    }
    this.notifyIdle();
  }

  private finished(item: T): void {
    this.running.delete(item);
    this.pump();
  }

  private notifyIdle(): void {
    if (this.running.size !== 0 || this.waiting.length !== 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
