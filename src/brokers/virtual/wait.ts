/**
 * The blocking half of `ChannelOps.reserve`, shared by the stores: try, and when nothing is ready
 * sleep until a put for one of our queues is announced, the store's next deadline (a delayed message
 * or a lapsing reservation becoming visible), the wait budget runs out, or the caller aborts. No
 * fixed-rate polling unless the store asks for it through `nextWakeAt` (cross-process SQLite).
 */
import type { EventEmitter } from 'node:events';

/** Event name on a store's emitter announcing that `queue` may have something new. */
export const PUT_EVENT = 'put';

export interface WaitLoop<T> {
  /** Take what is ready; synchronous so no put can slip in between trying and listening. */
  attempt(): T[];
  /** Absolute ms at which trying again may succeed without any announcement, or null. */
  nextWakeAt(now: number): number | null;
  emitter: EventEmitter;
  queues: string[];
  waitMs: number;
  signals: AbortSignal[];
}

export async function reserveWithWait<T>(loop: WaitLoop<T>): Promise<T[]> {
  const end = Date.now() + loop.waitMs;
  const wanted = new Set(loop.queues);
  for (;;) {
    if (loop.signals.some((s) => s.aborted)) return [];
    const got = loop.attempt();
    if (got.length > 0) return got;
    const now = Date.now();
    if (now >= end) return [];
    const wakeAt = Math.min(end, loop.nextWakeAt(now) ?? end);
    await waitForPut(loop.emitter, wanted, Math.max(1, wakeAt - now), loop.signals);
  }
}

function waitForPut(emitter: EventEmitter, queues: Set<string>, ms: number, signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    const onPut = (queue: string): void => {
      if (queues.has(queue)) done();
    };
    const done = (): void => {
      clearTimeout(timer);
      emitter.off(PUT_EVENT, onPut);
      for (const s of signals) s.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    emitter.on(PUT_EVENT, onPut);
    for (const s of signals) s.addEventListener('abort', done, { once: true });
  });
}
