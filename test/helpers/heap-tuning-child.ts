/** Child process for test/worker/heap-tuning.test.ts: allocate steadily, then print the heap space sizes (MB). */
import { getHeapSpaceStatistics } from 'node:v8';
import { setTimeout as sleep } from 'node:timers/promises';
import { capYoungGeneration, setHeapGrowthPercent } from '../../src/worker/heap-tuning.js';

const [capMb, growthPercent] = process.argv.slice(2).map(Number);
capYoungGeneration(capMb ?? 0);
setHeapGrowthPercent(growthPercent ?? 0);
// A ring of recent objects (as a worker's in-flight messages): old enough to be promoted, then garbage.
const ring: unknown[] = new Array(20_000);
for (let round = 0; round < 60; round++) {
  for (let i = 0; i < 50_000; i++) {
    const o = { i, s: `item ${i} of round ${round}`, a: [i, round] };
    if (i % 5 === 0) ring[(round * 10_000 + i / 5) % ring.length] = o;
  }
  await sleep(2); // let timers and GC callbacks run, as between deliveries
}
const size = (name: string): number => (getHeapSpaceStatistics().find((s) => s.space_name === name)?.space_size ?? 0) / 2 ** 20;
process.stdout.write(`${JSON.stringify({ newSpaceMb: size('new_space'), oldSpaceMb: size('old_space'), kept: ring.length })}\n`);
