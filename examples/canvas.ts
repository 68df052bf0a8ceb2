/**
 * Workflows: a typed chain, a group and a chord, with a worker in this process (the example app's
 * embedded SQLite broker and backend, so nothing else needs to run):
 *
 *   npx tsx examples/canvas.ts
 */
import { chain, chord, group } from 'celeriac';
import { add, app, mul } from './tasks.js';

const tsum = app.task('tasks.tsum', (nums: number[]) => nums.reduce((a, b) => a + b, 0));
const worker = app.worker({ concurrency: 4 });
await worker.start();

// (2 + 2) * 10 + 1: each step receives the previous result as its first argument.
const res = await chain(add.s(2, 2), mul.s(10), add.s(1)).delay();
console.log('chain', await res.get({ timeout: 10_000 }));

const g = await group(add.s(1, 1), add.s(2, 2), add.s(3, 3)).delay();
console.log('group', await g.get({ timeout: 10_000 }));

const c = await chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], tsum.s()).delay();
console.log('chord', await c.get({ timeout: 10_000 }));

await worker.close();
await app.close();
