import type { TaskRequest } from './request.js';

/** A set of requests that reports every change, so the worker can pause or resume its intake. */
export class HeldRequests extends Set<TaskRequest> {
  constructor(private readonly onChange: () => void) {
    super();
  }

  override add(request: TaskRequest): this {
    super.add(request);
    this.onChange();
    return this;
  }

  override delete(request: TaskRequest): boolean {
    const deleted = super.delete(request);
    if (deleted) this.onChange();
    return deleted;
  }
}
