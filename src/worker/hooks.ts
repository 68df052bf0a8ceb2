/**
 * Running middleware hooks in order. The per-task hooks cost no promise when every middleware's
 * hook is synchronous: a promise comes back only once some hook returned one, and the rest then run
 * after it, in order. A failing hook is logged and never stops the others.
 */
import type { Logger } from '../utils/logger.js';
import type { WorkerMiddleware } from './middleware.js';

export type HookName = 'shouldSkip' | 'beforeExecute' | 'afterExecute';

export class MiddlewareHooks {
  /** The middlewares that have each per-task hook, so a task does not visit the ones without. */
  private byHook: Record<HookName, WorkerMiddleware[]>;

  constructor(
    private readonly middlewares: readonly WorkerMiddleware[],
    private readonly log: () => Logger,
  ) {
    this.byHook = this.index();
  }

  /** Re-read which middlewares have which hooks (after they started). */
  refresh(): void {
    this.byHook = this.index();
  }

  of(hook: HookName): readonly WorkerMiddleware[] {
    return this.byHook[hook];
  }

  /** One per-task hook of every middleware that has it; null when all were synchronous. */
  runEach(hook: HookName, call: (mw: WorkerMiddleware) => unknown, from = 0): Promise<void> | null {
    const middlewares = this.byHook[hook];
    for (let i = from; i < middlewares.length; i++) {
      const mw = middlewares[i]!;
      try {
        const result = call(mw);
        if (result instanceof Promise) {
          return result.then(
            () => this.runEach(hook, call, i + 1) ?? undefined,
            (err: unknown) => {
              this.failed(mw, hook, err);
              return this.runEach(hook, call, i + 1) ?? undefined;
            },
          );
        }
      } catch (err) {
        this.failed(mw, hook, err);
      }
    }
    return null;
  }

  /** Any hook (rare ones such as afterSkip), awaited in order. */
  async runAll(hook: string, call: (mw: WorkerMiddleware) => unknown): Promise<void> {
    for (const mw of this.middlewares) {
      try {
        const result = call(mw);
        if (result instanceof Promise) await result;
      } catch (err) {
        this.failed(mw, hook, err);
      }
    }
  }

  private failed(mw: WorkerMiddleware, hook: string, err: unknown): void {
    this.log().error({ middleware: mw.name, hook, err: (err as Error).message }, 'middleware hook failed');
  }

  private index(): Record<HookName, WorkerMiddleware[]> {
    return {
      shouldSkip: this.middlewares.filter((mw) => mw.shouldSkip),
      beforeExecute: this.middlewares.filter((mw) => mw.beforeExecute),
      afterExecute: this.middlewares.filter((mw) => mw.afterExecute),
    };
  }
}
