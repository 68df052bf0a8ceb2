/**
 * A cap on V8's young generation (new space) for a worker process. Under steady load V8 doubles the
 * new space up to 32 MB, which is a third of a small worker's memory; a few MB serve a task queue
 * as well (its objects die young or live for a whole task). V8 reads `--max-semi-space-size` only at
 * start-up, but it reads its growth factor each time it grows, so growth is stopped once the cap is
 * reached. Process-wide, so only the `celeriac worker` command applies it (setting
 * `workerMaxYoungGenerationMb`, flag `--max-young-generation-mb`; 0 leaves V8's default).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

function newSpaceMb(): number {
  const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return space ? space.space_size / 2 ** 20 : 0;
}

const stopGrowth = (): void => setFlagsFromString('--semi-space-growth-factor=1');
const allowGrowth = (): void => setFlagsFromString('--semi-space-growth-factor=2');

/**
 * Called first thing in a worker process (bin/celeriac.js), before its modules load: loading alone
 * would grow the new space past a small cap, and V8 does not shrink it back under load.
 */
export function holdYoungGeneration(): void {
  stopGrowth();
}

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
