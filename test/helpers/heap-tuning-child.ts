/** Child process for test/worker/heap-tuning.test.ts: allocate steadily, then print the new space size and the old space's peak (MB). */
import { getHeapSpaceStatistics } from 'node:v8';
import { setTimeout as sleep } from 'node:timers/promises';
import { capYoungGeneration, setHeapGrowthPercent } from '../../src/worker/heap-tuning.js';

const [capMb, growthPercent] = process.argv.slice(2).map(Number);
capYoungGeneration(capMb ?? 0);
setHeapGrowthPercent(growthPercent ?? 0);
const size = (name: string): number => (getHeapSpaceStatistics().find((s) => s.space_name === name)?.space_size ?? 0) / 2 ** 20;
// A ring of recent objects (as a worker's in-flight messages): old enough to be promoted, then garbage.
const ring: unknown[] = new Array(20_000);
// The peak, not the size at the end: where the last full GC happened to fall does not decide it.
let peakOldSpaceMb = 0;
for (let round = 0; round < 60; round++) {
  for (let i = 0; i < 50_000; i++) {
    const o = { i, s: `item ${i} of round ${round}`, a: [i, round] };
    if (i % 5 === 0) ring[(round * 10_000 + i / 5) % ring.length] = o;
  }
  peakOldSpaceMb = Math.max(peakOldSpaceMb, size('old_space'));
  await sleep(2); // let timers and GC callbacks run, as between deliveries
}
process.stdout.write(`${JSON.stringify({ newSpaceMb: size('new_space'), oldSpaceMb: peakOldSpaceMb, kept: ring.length })}\n`);
