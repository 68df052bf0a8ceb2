/**
 * Writes nobody waits for, which brokers and backends batch per tick so that many calls share one
 * promise (acks, result writes). Calls that share a promise are counted as one batch: one handler
 * per batch instead of one per task, a failure logged once with the batch's first ids, and a count
 * and a drain for what is still outstanding.
 */
const IDS_SHOWN = 20;

export interface FailedBatch {
  /** Calls in the batch. */
  count: number;
  /** The first of their ids. */
  ids: string[];
}

interface Batch extends FailedBatch {
  write: Promise<void>;
}

export class SharedWrites {
  private current: Batch | null = null;
  private readonly settling = new Set<Promise<void>>();
  /** Calls whose write has not settled yet. */
  outstanding = 0;

  constructor(private readonly onFailure: (err: unknown, batch: FailedBatch) => void) {}

  add(write: Promise<void>, id: string): void {
    this.outstanding++;
    const current = this.current;
    if (current?.write === write) {
      current.count++;
      if (current.ids.length < IDS_SHOWN) current.ids.push(id);
      return;
    }
    const batch: Batch = { write, count: 1, ids: [id] };
    this.current = batch;
    const done = (): void => {
      this.outstanding -= batch.count;
      this.settling.delete(settled);
      if (this.current === batch) this.current = null;
    };
    const settled: Promise<void> = write.then(done, (err: unknown) => {
      done();
      this.onFailure(err, batch);
    });
    this.settling.add(settled);
  }

  /** Resolves once every write added so far (and any added meanwhile) has settled. */
  async drain(): Promise<void> {
    while (this.settling.size > 0) await Promise.all([...this.settling]);
  }
}
