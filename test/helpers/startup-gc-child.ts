/** Child process for test/worker/heap-tuning.test.ts: leave garbage behind as module loading does, then collect it once. */
import { getHeapStatistics } from 'node:v8';
import { collectStartupGarbage } from '../../src/worker/heap-tuning.js';

let kept: unknown[] | null = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `startup object ${i}` }));
const mb = (): number => getHeapStatistics().used_heap_size / 2 ** 20;
const before = mb();
kept = null;
collectStartupGarbage();
process.stdout.write(`${JSON.stringify({ before, after: mb(), kept })}\n`);
