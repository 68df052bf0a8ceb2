import { describe, expect, it } from 'vitest';
import { exceptionInfo } from '../../src/worker/exceptions.js';

class CustomError extends Error {
  args = ['custom failure', 42];
  excModule = 'proj.errors';
}

describe('exception serialization', () => {
  it('maps JS errors that share a Python builtin name to builtins', () => {
    expect(exceptionInfo(new TypeError('bad'))).toEqual({ exc_type: 'TypeError', exc_message: ['bad'], exc_module: 'builtins' });
  });

  it('keeps other names, with no module', () => {
    expect(exceptionInfo(new Error('boom'))).toEqual({ exc_type: 'Error', exc_message: ['boom'], exc_module: null });
  });

  it('honours Celery-style args and excModule on custom errors', () => {
    expect(exceptionInfo(new CustomError('x'))).toEqual({ exc_type: 'CustomError', exc_message: ['custom failure', 42], exc_module: 'proj.errors' });
  });

  it('wraps thrown non-errors', () => {
    expect(exceptionInfo('plain')).toEqual({ exc_type: 'Exception', exc_message: ['plain'], exc_module: 'builtins' });
  });
});
