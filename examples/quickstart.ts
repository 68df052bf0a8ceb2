/**
 * `npm start`: starts a worker process on the embedded broker, calls a few tasks from this process,
 * prints their results, then shuts the worker down (warm shutdown) and exits 0.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { RemoteTaskError } from 'celeriac';
import { add, app, fail, hello, mul } from './tasks.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const worker = spawn(process.execPath, ['bin/celeriac.js', '-A', 'examples/tasks.ts', 'worker', '-c', '4', '-l', 'warning'], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'inherit'],
});
const workerExited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));

try {
  const timeout = 20_000;
  const sum = await add.delay(2, 2);
  console.log(`add(2, 2)                       = ${await sum.get({ timeout })}`);

  const greeting = await hello.delay('celeriac');
  console.log(`hello('celeriac')               = ${await greeting.get({ timeout })}`);

  const later = await add.applyAsync([40, 2], undefined, { countdown: 1 });
  console.log(`add(40, 2) with a 1 s countdown = ${await later.get({ timeout })}`);

  // link: the result of add(3, 4) becomes the first argument of mul(_, 10); giving the callback
  // signature a task id lets us wait for its result too.
  const callbackId = randomUUID();
  const linked = await add.applyAsync([3, 4], undefined, { link: mul.s(10).set({ task_id: callbackId }) });
  const product = await app.AsyncResult<number>(callbackId).get({ timeout });
  console.log(`add(3, 4) → linked mul(_, 10)    = ${await linked.get({ timeout })} → ${product}`);

  const byName = await app.sendTask<number>('tasks.mul', [6, 7]);
  console.log(`sendTask('tasks.mul', [6, 7])   = ${await byName.get({ timeout })}`);

  const failing = await fail.delay();
  try {
    await failing.get({ timeout });
  } catch (err) {
    if (!(err instanceof RemoteTaskError)) throw err;
    console.log(`fail()                          → ${err.excType}: ${err.message} (state ${await failing.state})`);
  }
} finally {
  await app.close();
  worker.kill('SIGTERM');
}
const code = await workerExited;
console.log(`worker stopped (exit code ${code})`);
process.exit(code === 0 ? 0 : 1);
