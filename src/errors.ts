/**
 * Error classes shared across layers. `excType`/`excModule` follow Celery's names so that a stored
 * FAILURE reads the same in Python and TypeScript.
 */

export class CeleriacError extends Error {
  override name = 'CeleriacError';
}

/** Bad configuration or URL: raised at startup, names the setting. */
export class ConfigurationError extends CeleriacError {
  override name = 'ConfigurationError';
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`invalid setting ${setting}: ${message}`);
  }
}

/** A message that cannot be decoded into a task: rejected, never retried. */
export class MalformedMessageError extends CeleriacError {
  override name = 'MalformedMessageError';
}

/** Content type or encoding we refuse (pickle) or do not know. */
export class ContentDisallowedError extends CeleriacError {
  override name = 'ContentDisallowed';
}

export class NotRegisteredError extends CeleriacError {
  override name = 'NotRegistered';
  readonly excType = 'NotRegistered';
  readonly excModule = 'celery.exceptions';
  constructor(readonly taskName: string) {
    super(`Task of kind '${taskName}' is not registered`);
  }
}

export class TimeoutError extends CeleriacError {
  override name = 'TimeoutError';
  readonly excModule = 'celery.exceptions';
}

export class BrokerConnectionError extends CeleriacError {
  override name = 'BrokerConnectionError';
}

/**
 * The error a client sees for a task that failed remotely (FAILURE or REVOKED): carries the remote
 * exception's type, module and message arguments exactly as stored.
 */
export class RemoteTaskError extends CeleriacError {
  override name: string;
  constructor(
    readonly excType: string,
    readonly excMessage: unknown[],
    readonly excModule: string | null,
    readonly taskId: string,
    readonly traceback: string | null,
  ) {
    super(formatExcMessage(excType, excMessage));
    this.name = excType;
  }
}

function formatExcMessage(excType: string, args: unknown[]): string {
  if (args.length === 0) return excType;
  if (args.length === 1) return typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0]);
  return args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(', ');
}
