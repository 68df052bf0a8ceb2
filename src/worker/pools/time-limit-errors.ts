/**
 * The errors of time limits and lost pool workers, named and placed as Celery stores them
 * (`billiard.exceptions`, re-exported by `celery.exceptions`), so a Python client re-raises the
 * real class.
 */
import { CeleriacError } from '../../errors.js';

abstract class BilliardError extends CeleriacError {
  readonly excModule = 'billiard.exceptions';
}

/** Raised in the task (its signal aborts with it) when the soft time limit passes. */
export class SoftTimeLimitExceeded extends BilliardError {
  override name = 'SoftTimeLimitExceeded';
  readonly excType = 'SoftTimeLimitExceeded';
  constructor(readonly seconds: number) {
    super(`SoftTimeLimitExceeded(${seconds})`);
  }
  get args(): unknown[] {
    return [this.seconds];
  }
}

/** The task was stopped at its hard time limit. */
export class TimeLimitExceeded extends BilliardError {
  override name = 'TimeLimitExceeded';
  readonly excType = 'TimeLimitExceeded';
  constructor(readonly seconds: number) {
    super(`TimeLimitExceeded(${seconds})`);
  }
  get args(): unknown[] {
    return [this.seconds];
  }
}

/** The thread or process running the task died under it. */
export class WorkerLostError extends BilliardError {
  override name = 'WorkerLostError';
  readonly excType = 'WorkerLostError';
  constructor(message: string) {
    super(message);
  }
}

/** The task was stopped by a revoke with `terminate`. */
export class Terminated extends BilliardError {
  override name = 'Terminated';
  readonly excType = 'Terminated';
  constructor(readonly signal: string) {
    super(`Terminated(${signal})`);
  }
  get args(): unknown[] {
    return [this.signal];
  }
}
