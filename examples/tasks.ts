/**
 * The example app. With no broker or backend configured, celeriac uses the embedded SQLite broker
 * and result backend under ./.celeriac/, so nothing else needs to run.
 *
 *   npx celeriac -A examples/tasks.ts worker
 *   npx celeriac -A examples/tasks.ts call tasks.add --args '[2,2]' --wait
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Celery, currentTask } from 'celeriac';

export const app = new Celery('examples');

export const add = app.task('tasks.add', (x: number, y: number) => x + y);

export const mul = app.task('tasks.mul', (x: number, y: number) => x * y);

export const hello = app.task('tasks.hello', async (name: string) => {
  await sleep(50);
  return `Hello, ${name}! (task ${currentTask()?.id})`;
});

export const fail = app.task('tasks.fail', () => {
  throw new TypeError('this task always fails');
});

export default app;
