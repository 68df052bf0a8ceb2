/**
 * V8 heap settings for a worker process: a cap on the young generation, and how far the old
 * generation may grow before a full GC. Both are `celeriac worker` defaults, applied only by that
 * command because they are process-wide (settings `workerMaxYoungGenerationMb` and
 * `workerHeapGrowthPercent`, flags `--max-young-generation-mb` and `--heap-growth-percent`).
 *
 * The young generation (new space). Under steady load V8 doubles the
 * new space up to 32 MB, which is a third of a small worker's memory; a few MB serve a task queue
 * as well (its objects die young or live for a whole task). V8 reads `--max-semi-space-size` only at
 * start-up, but it reads its growth factor each time it grows, so growth is stopped once the cap is
 * reached.
 *
 * The old generation: V8 lets it grow by a factor it picks (up to 4x the live heap, from a large
 * initial limit), so a worker whose live heap is 15 MB peaks at 50 MB of mostly garbage. A fixed
 * growth percent (V8's `--heap-growing-percent`, read at every full GC) keeps the peak near the live
 * size, for a few more full GCs.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

function newSpaceMb(): number {
  const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return space ? space.space_size / 2 ** 20 : 0;
}

const stopGrowth = (): void => setFlagsFromString('--semi-space-growth-factor=1');
const allowGrowth = (): void => setFlagsFromString('--semi-space-growth-factor=2');

/** Let the new space grow up to `capMb`, then no further (0: no cap). Returns a function that lifts the cap. */
export function capYoungGeneration(capMb: number): () => void {
  if (!(capMb > 0)) {
    allowGrowth();
    return () => undefined;
  }
  // The next doubling would pass the cap: no growth at all.
  const atCap = (): boolean => newSpaceMb() * 2 > capMb;
  if (atCap()) {
    stopGrowth();
    return allowGrowth;
  }
  allowGrowth();
  // V8 grows the new space during a scavenge: check after each one.
  const observer = new PerformanceObserver(() => {
    if (!atCap()) return;
    stopGrowth();
    observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => {
    observer.disconnect();
    allowGrowth();
  };
}

/** Let the old generation grow by `percent` of the live heap between full GCs (0: V8's own factor). */
export function setHeapGrowthPercent(percent: number): void {
  setFlagsFromString(`--heap-growing-percent=${Math.max(0, Math.round(percent))}`);
}

/**
 * One full GC once the app is loaded, before the first message. V8 applies the growth percent only
 * after a full GC; until the first one the old generation may grow to V8's large initial limit, on
 * top of the garbage module loading left behind, which made the first burst of work the worker's
 * peak (about 10 MB above its steady state). A single collection of a ~15 MB heap costs a few ms.
 */
export function collectStartupGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  gc?.();
}
