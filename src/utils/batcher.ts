/**
 * Collect calls made in the same tick and run them as one batch: many acks or result writes become
 * one Redis script call instead of one command (and one promise chain in the client) each.
 */
export class Batcher<T> {
  private pending: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly flush: (items: T[]) => Promise<void>,
    private readonly maxBatch = 500,
  ) {}

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.run();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.run());
      }
    });
  }

  private run(): void {
    this.scheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.flush(batch.map((entry) => entry.item)).then(
      () => {
        for (const entry of batch) entry.resolve();
      },
      (err: unknown) => {
        for (const entry of batch) entry.reject(err);
      },
    );
  }
}
