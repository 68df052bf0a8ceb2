/** Errors the CLI prints as one paragraph, without a stack trace. */
import { ConfigurationError, RemoteTaskError } from '../errors.js';
import { redactText } from '../utils/url.js';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** One line for any error: known errors by their message, unknown ones by name and message, redacted. */
export function describeError(err: unknown): string {
  if (err instanceof CliError || err instanceof ConfigurationError) return redactText(err.message);
  if (err instanceof RemoteTaskError) return `task ${err.taskId} failed: ${err.excType}: ${err.message}`;
  if (err instanceof Error) return redactText(`${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`);
  return redactText(String(err));
}
