/**
 * After a task: on success send its `link` callbacks and the next chain step with the result
 * prepended; on failure send its `link_error` errbacks with the failed task's id
 * (`celery/app/trace.py`, `celery/backends/base.py::_call_task_errbacks`).
 */
import { applySignature } from '../../canvas/apply.js';
import type { Outcome, WorkerMiddleware, WorkerRuntime } from '../middleware.js';
import type { TaskRequest } from '../request.js';

export class CallbackMiddleware implements WorkerMiddleware {
  readonly name = 'callbacks';
  private runtime!: WorkerRuntime;

  start(runtime: WorkerRuntime): void {
    this.runtime = runtime;
  }

  afterExecute(request: TaskRequest, outcome: Outcome): Promise<void> | void {
    const embed = request.embed;
    const pending = outcome.status === 'SUCCESS' ? embed.callbacks?.length || embed.chain?.length : embed.errbacks?.length;
    // Most tasks have nothing to send: no promise for them.
    if (!pending) return;
    return this.send(request, outcome);
  }

  private async send(request: TaskRequest, outcome: Outcome): Promise<void> {
    const { app } = this.runtime;
    const lineage = { parentId: request.id, rootId: request.headers.root_id };
    if (outcome.status === 'SUCCESS') {
      for (const sig of request.embed.callbacks ?? []) {
        await applySignature(app, sig, { ...lineage, prependArgs: [outcome.value] });
      }
      const chain = request.embed.chain;
      if (chain && chain.length > 0) {
        const next = chain[chain.length - 1]!;
        await applySignature(app, next, { ...lineage, prependArgs: [outcome.value], chain: chain.slice(0, -1) });
      }
      return;
    }
    for (const sig of request.embed.errbacks ?? []) {
      await applySignature(app, sig, { ...lineage, prependArgs: [request.id] });
    }
  }
}
