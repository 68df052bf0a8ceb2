/**
 * One `waitForResult` on a key-value result backend: subscribe to the task's key (or poll a store
 * that cannot notify), read it when told it changed, and settle once the task is ready, on timeout,
 * on abort or when the backend closes.
 *
 * A class rather than a closure per step: a client calling `delay()` + `get()` in a loop makes one
 * of these per call, and on a lone round trip every allocation and function on the way from the
 * result message to the settled promise runs with cold caches.
 */
import { CeleriacError, TimeoutError } from '../errors.js';
import { READY_STATES, type ResultMeta, type WaitOptions } from './types.js';
import type { KeyValueStore } from './keyvalue.js';

/** What a wait needs from its backend. */
export interface ResultWaitHost {
  /** Waits in progress, so closing the backend settles them. */
  readonly waits: Set<ResultWait>;
  isClosed(): boolean;
  /** Polling a store that cannot notify: first delay and cap, ms. */
  pollDelays(): { initialMs: number; maxMs: number };
  /** The store if it is open now, else undefined. */
  openStore(): KeyValueStore | undefined;
  getStore(): Promise<KeyValueStore>;
  getTaskMeta(taskId: string): Promise<ResultMeta>;
  decodeMeta(raw: string, taskId: string): ResultMeta;
}

export class ResultWait {
  readonly promise: Promise<ResultMeta>;
  private resolve!: (meta: ResultMeta) => void;
  private reject!: (err: unknown) => void;
  private finished = false;
  private timer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | null = null;
  private abortListener: (() => void) | null = null;
  /** One read at a time; a change announced during a read triggers one more read afterwards. */
  private reading = false;
  private again = false;
  private failures = 0;
  private openFailures = 0;
  private pollDelay = 0;

  /** `key` is the task's key in the store (`celery-task-meta-<id>`). */
  constructor(
    private readonly host: ResultWaitHost,
    private readonly taskId: string,
    private readonly key: string,
    private readonly options: WaitOptions,
  ) {
    this.promise = new Promise<ResultMeta>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    const { timeout, signal } = options;
    if (signal?.aborted) {
      this.finished = true;
      this.reject(signal.reason);
      return;
    }
    if (signal) {
      this.abortListener = () => this.fail(signal.reason);
      signal.addEventListener('abort', this.abortListener, { once: true });
    }
    host.waits.add(this);
    if (timeout !== undefined) {
      this.timer = setTimeout(() => this.fail(new TimeoutError(`The operation timed out waiting for task ${taskId} (${timeout} ms)`)), timeout);
    }
    // With the store open (every call after the first), start in this turn.
    const open = host.openStore();
    if (open) this.start(open);
    else this.open();
  }

  /** Settle with an error (timeout, abort, the backend closing). */
  fail(err: unknown): void {
    if (this.finish()) this.reject(err);
  }

  private succeed(meta: ResultMeta): void {
    if (this.finish()) this.resolve(meta);
  }

  /** Stop everything; false if already finished. */
  private finish(): boolean {
    if (this.finished) return false;
    this.finished = true;
    clearTimeout(this.timer);
    clearTimeout(this.pollTimer);
    clearTimeout(this.retryTimer);
    this.unsubscribe?.();
    if (this.abortListener) this.options.signal?.removeEventListener('abort', this.abortListener);
    this.host.waits.delete(this);
    return true;
  }

  /**
   * Opening the store can fail (Redis restarting as the wait begins): try again with backoff, as
   * for reads, until the caller's timeout.
   */
  private open(): void {
    this.host.getStore().then(
      (store) => this.start(store),
      (err: unknown) => {
        if (this.finished) return;
        if (this.host.isClosed() || err instanceof CeleriacError) return this.fail(err);
        this.retryTimer = setTimeout(() => this.open(), Math.min(2000, 50 * 2 ** this.openFailures++));
      },
    );
  }

  private start(store: KeyValueStore): void {
    if (this.finished) return;
    if (store.onChange) {
      const unsubscribe = store.onChange(this.key, (value) => this.onValue(value));
      // (A store that answered within onChange has already finished this wait.)
      if (this.finished) unsubscribe();
      else this.unsubscribe = unsubscribe;
      // The result may have landed before we subscribed: read it, unless the store covers that.
      if (!store.coversEarlierValues) void this.check();
      return;
    }
    this.pollDelay = this.host.pollDelays().initialMs;
    void this.poll();
  }

  private async poll(): Promise<void> {
    await this.check();
    if (this.finished) return;
    this.pollTimer = setTimeout(() => void this.poll(), this.pollDelay);
    this.pollDelay = Math.min(this.host.pollDelays().maxMs, this.pollDelay * 2);
  }

  /** A notification carrying the new value saves a read when it is already final. */
  private onValue(value?: string): void {
    if (this.finished) return;
    if (value !== undefined) {
      let meta: ResultMeta | undefined;
      try {
        meta = this.host.decodeMeta(value, this.taskId);
      } catch {
        // not decodable here: fall back to reading the key
      }
      if (meta) {
        if (READY_STATES.has(meta.status)) this.succeed(meta);
        return;
      }
    }
    void this.check();
  }

  private async check(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.again = false;
        const meta = await this.host.getTaskMeta(this.taskId);
        this.failures = 0;
        if (READY_STATES.has(meta.status)) return this.succeed(meta);
      } while (this.again && !this.finished);
    } catch (err) {
      if (this.host.isClosed() || err instanceof CeleriacError) return this.fail(err);
      // The store is unreachable for now (a Redis restart, say): keep waiting and read again with
      // backoff; the caller's timeout, not a connection blip, decides when to give up.
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => void this.check(), Math.min(2000, 50 * 2 ** this.failures++));
    } finally {
      this.reading = false;
    }
  }
}
