/**
 * Entry point of a pool worker: a worker thread (`-P threads`) or a child process (`-P processes`).
 * It loads the user's app module itself (Node cannot fork a loaded process as Celery's prefork
 * does), applies the parent's configuration, then runs one job at a time and reports its outcome
 * and its memory, which the parent uses for `maxMemoryPerChild`.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import type { Celery } from '../../app/celery.js';
import { runWithTaskContext } from '../../app/context.js';
import { NotRegisteredError } from '../../errors.js';
import { loadApp } from '../../cli/load-app.js';
import type { ChildMessage, ChildOutcome, ParentMessage } from './messages.js';
import { SoftTimeLimitExceeded } from './time-limit-errors.js';
import { storeTaskState } from '../task-state.js';
import { serializeError, type TaskJob } from './types.js';

const send: (message: ChildMessage) => void = parentPort
  ? (message) => parentPort!.postMessage(message)
  : (message) => process.send?.(message);

let app: Celery | null = null;
const running = new Map<string, AbortController>();

/** Threads share the process's resident set, so a thread reports its own heap and buffers instead. */
const memoryKiB = parentPort
  ? () => {
      const heap = getHeapStatistics();
      return Math.round((heap.total_heap_size + heap.external_memory) / 1024);
    }
  : () => Math.round(process.memoryUsage.rss() / 1024);

async function onMessage(message: ParentMessage): Promise<void> {
  switch (message.type) {
    case 'init':
      try {
        app = await loadApp(message.appModule);
        app.configure(message.conf);
        send({ type: 'ready', tasks: app.taskNames });
      } catch (err) {
        send({ type: 'init-failed', error: serializeError(err) });
      }
      return;
    case 'run': {
      const outcome = await runJob(message.job);
      try {
        send({ type: 'done', id: message.job.id, outcome, memoryKiB: memoryKiB() });
      } catch (err) {
        // A value that cannot be cloned (a function, a socket) fails the task instead of the worker.
        const error = serializeError(new TypeError(`task result cannot be sent to the worker: ${(err as Error).message}`));
        send({ type: 'done', id: message.job.id, outcome: { status: 'FAILURE', error, runtimeMs: outcome.runtimeMs }, memoryKiB: memoryKiB() });
      }
      return;
    }
    case 'soft-limit':
      running.get(message.id)?.abort(new SoftTimeLimitExceeded(message.seconds));
      return;
    case 'exit':
      await app?.close().catch(() => undefined);
      if (parentPort) parentPort.close();
      else process.exit(0);
  }
}

async function runJob(job: TaskJob): Promise<ChildOutcome> {
  const started = performance.now();
  const controller = new AbortController();
  running.set(job.id, controller);
  try {
    const task = app?.getTask(job.name);
    if (!task) throw new NotRegisteredError(job.name);
    const current = app!;
    const context = { ...job.context, signal: controller.signal, updateState: (state: string, meta?: unknown) => storeTaskState(current, job.context, state, meta) };
    const value: unknown = await runWithTaskContext(context, () => task.runWith(job.args, job.kwargs));
    return { status: 'SUCCESS', value: value === undefined ? null : value, runtimeMs: performance.now() - started };
  } catch (err) {
    return { status: 'FAILURE', error: serializeError(err), runtimeMs: performance.now() - started };
  } finally {
    running.delete(job.id);
  }
}

if (parentPort) {
  parentPort.on('message', (message: ParentMessage) => void onMessage(message));
} else {
  // Ctrl-C reaches the whole process group: the parent decides what a SIGINT means (warm shutdown
  // lets running tasks finish), so a child must not die of it. A child whose parent is gone exits.
  process.on('SIGINT', () => undefined);
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: ParentMessage) => void onMessage(message));
}
