/**
 * JS errors → Celery's exception triple `{exc_type, exc_message, exc_module}`. Names that are Python
 * builtins get `exc_module: "builtins"`, so a Python client re-raises the real class (a JS
 * `TypeError` becomes Python's `TypeError`); other names are rebuilt by Celery as synthetic classes.
 */
import type { ExceptionInfo } from '../backends/types.js';

const PYTHON_BUILTIN_EXCEPTIONS = new Set([
  'ArithmeticError', 'AssertionError', 'AttributeError', 'BaseException', 'BufferError', 'ConnectionError',
  'EOFError', 'Exception', 'FileExistsError', 'FileNotFoundError', 'FloatingPointError', 'ImportError',
  'IndexError', 'KeyError', 'LookupError', 'MemoryError', 'NameError', 'NotImplementedError', 'OSError',
  'OverflowError', 'PermissionError', 'RecursionError', 'ReferenceError', 'RuntimeError', 'StopIteration',
  'SyntaxError', 'SystemError', 'TimeoutError', 'TypeError', 'UnicodeError', 'ValueError', 'ZeroDivisionError',
]);

/** Errors may carry Celery-style fields to control how they are stored. */
interface CeleryStyleError {
  name?: string;
  message?: string;
  /** Python's `exc.args`; defaults to `[message]`. */
  args?: unknown[];
  excType?: string;
  excModule?: string | null;
}

export function exceptionInfo(error: unknown): ExceptionInfo {
  if (!(error instanceof Error)) {
    return { exc_type: 'Exception', exc_message: [String(error)], exc_module: 'builtins' };
  }
  const e = error as Error & CeleryStyleError;
  const excType = e.excType ?? e.constructor?.name ?? e.name ?? 'Error';
  const excModule = e.excModule !== undefined ? e.excModule : PYTHON_BUILTIN_EXCEPTIONS.has(excType) ? 'builtins' : null;
  const excMessage = Array.isArray(e.args) ? e.args : e.message ? [e.message] : [];
  return { exc_type: excType, exc_message: excMessage, exc_module: excModule };
}

/** The stored traceback: the JS stack (Celery stores Python's formatted traceback here). */
export function tracebackText(error: unknown): string | null {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return null;
}
