/** The messages between a pool worker (thread or child process) and the pool that owns it. */
import type { Config } from '../../app/config.js';
import type { SerializedError, TaskJob } from './types.js';

export type ParentMessage =
  | { type: 'init'; appModule: string; conf: Partial<Config> }
  | { type: 'run'; job: TaskJob }
  | { type: 'soft-limit'; id: string; seconds: number }
  | { type: 'exit' };

export type ChildOutcome =
  | { status: 'SUCCESS'; value: unknown; runtimeMs: number }
  | { status: 'FAILURE'; error: SerializedError; runtimeMs: number };

export type ChildMessage =
  | { type: 'ready'; tasks: string[] }
  | { type: 'init-failed'; error: SerializedError }
  | { type: 'done'; id: string; outcome: ChildOutcome; memoryKiB: number };
