/**
 * A resource opened on first use and shared by every later caller. A failed open is forgotten, so
 * the next call tries again instead of repeating the old error forever.
 */
export class OpenOnce<T> {
  private value: T | undefined;
  private opening: Promise<T> | null = null;

  constructor(private readonly open: () => T | Promise<T>) {}

  /** Whether an open has started (or finished). */
  get started(): boolean {
    return this.opening !== null;
  }

  /** The resource if it is open now, else undefined (then use `get()`). */
  peek(): T | undefined {
    return this.opening ? this.value : undefined;
  }

  get(): Promise<T> {
    this.opening ??= (async () => {
      try {
        this.value = await this.open();
        return this.value;
      } catch (err) {
        this.opening = null;
        throw err;
      }
    })();
    return this.opening;
  }

  /** Forget the resource and return it (waiting for an open in progress), or null if none opened. */
  async take(): Promise<T | null> {
    const opening = this.opening;
    this.opening = null;
    this.value = undefined;
    return opening ? opening.catch(() => null) : null;
  }
}
