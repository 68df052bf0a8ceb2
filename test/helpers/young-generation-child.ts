/** Child process for test/worker/young-generation.test.ts: allocate steadily, then print the new space size (MB). */
import { getHeapSpaceStatistics } from 'node:v8';
import { setTimeout as sleep } from 'node:timers/promises';
import { capYoungGeneration } from '../../src/worker/young-generation.js';

capYoungGeneration(Number(process.argv[2]));
const keep: unknown[] = [];
for (let round = 0; round < 40; round++) {
  for (let i = 0; i < 50_000; i++) {
    const o = { i, s: `item ${i}`, a: [i, round] };
    if (i % 50 === 0) keep[i % 2000] = o; // some survivors, as in a worker
  }
  await sleep(5); // let the worker's timers run, as between deliveries
}
const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
process.stdout.write(`${JSON.stringify({ newSpaceMb: (space?.space_size ?? 0) / 2 ** 20, kept: keep.length })}\n`);
