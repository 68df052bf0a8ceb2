/**
 * Shared pieces of the Python interop tests: Redis databases owned by each test file, celeriac apps
 * and workers on them, and the celeriac-side tasks Python clients call by name.
 */
import { Redis } from 'ioredis';
import { Celery } from '../../src/app/celery.js';
import type { Worker } from '../../src/worker/worker.js';
import { REDIS_HOST, REDIS_PORT, redisUrl, type PythonCeleryStatus, type PythonEnv, type PythonWorker } from '../helpers/python.js';
import { within } from '../helpers/wait.js';

/** Redis databases 2–9 belong to the interop tests, two per file (other suites use 0 and 1). */
export interface InteropDbs {
  broker: number;
  backend: number;
}

export function redisClient(db: number): Redis {
  return new Redis({ host: REDIS_HOST, port: REDIS_PORT, db, lazyConnect: true, maxRetriesPerRequest: 1 });
}

/** Empty this file's own databases (never FLUSHALL: other suites share the server). */
export async function flushDbs(dbs: InteropDbs): Promise<void> {
  for (const db of [dbs.broker, dbs.backend]) {
    const client = redisClient(db);
    try {
      await client.connect();
      await client.flushdb();
    } finally {
      client.disconnect();
    }
  }
}

export function pythonEnv(dbs: InteropDbs, queue?: string): PythonEnv {
  return { brokerUrl: redisUrl(dbs.broker), backendUrl: redisUrl(dbs.backend), queue };
}

type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';
/** `INTEROP_LOG_LEVEL=debug npx vitest run test/interop` shows the celeriac apps' logs. */
const LOG_LEVEL = (process.env.INTEROP_LOG_LEVEL ?? 'silent') as LogLevel;

export function celeriacApp(name: string, dbs: InteropDbs): Celery {
  return new Celery(name, { broker: redisUrl(dbs.broker), backend: redisUrl(dbs.backend), logLevel: LOG_LEVEL }, { env: {} });
}

/** An error class whose name is not a Python builtin: Python rebuilds it as a synthetic class. */
export class QuotaExceeded extends Error {
  override name = 'QuotaExceeded';
}

/** The celeriac side's tasks; `ran` lists `tasks.record` labels in execution order. */
export function defineCeleriacTasks(app: Celery) {
  const ran: string[] = [];
  const tasks = {
    add: app.task('tasks.add', (x: number, y: number) => x + y),
    typeFail: app.task('tasks.type_fail', (message: string) => {
      throw new TypeError(message);
    }),
    quotaFail: app.task('tasks.quota_fail', (message: string) => {
      throw new QuotaExceeded(message);
    }),
    /** When it ran, in Unix seconds (as Python's `time.time()`). */
    stamp: app.task('tasks.stamp', () => Date.now() / 1000),
    xsum: app.task('tasks.xsum', (nums: unknown[]) => (nums.flat(Infinity) as number[]).reduce((a, b) => a + b, 0)),
    record: app.task('tasks.record', (label: string) => {
      ran.push(label);
      return label;
    }),
  };
  return { tasks, ran };
}

export async function startCeleriacWorker(app: Celery, queues: string[], options: { concurrency?: number; prefetchMultiplier?: number } = {}): Promise<Worker> {
  const worker = app.worker({ queues, concurrency: options.concurrency ?? 4, prefetchMultiplier: options.prefetchMultiplier, hostname: `ts-${queues[0]}@interop` });
  try {
    await within(worker.start(), 15_000, 'celeriac worker start');
  } catch (err) {
    await within(worker.terminate(), 10_000, 'celeriac worker terminate').catch(() => undefined);
    throw err;
  }
  return worker;
}

/** Close a worker and its app, bounded, ignoring what was never started. */
export async function closeCeleriac(worker: Worker | undefined, app: Celery | undefined): Promise<void> {
  try {
    if (worker) await within(worker.close(), 15_000, 'celeriac worker close');
  } finally {
    if (app) await within(app.close(), 10_000, 'celeriac app close');
  }
}

/**
 * A test file's afterAll: stop the Python worker, anything else it started, the celeriac worker and
 * apps, then empty its databases. Every step runs even when an earlier one fails; the first error
 * is thrown at the end.
 */
export async function teardownInterop(
  dbs: InteropDbs,
  status: PythonCeleryStatus,
  parts: { pyWorker?: PythonWorker; stopOther?: () => Promise<void>; worker?: Worker; apps?: (Celery | undefined)[] },
): Promise<void> {
  const errors: unknown[] = [];
  const step = async (fn: () => Promise<void> | undefined): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  };
  await step(() => parts.pyWorker?.stop());
  await step(() => parts.stopOther?.());
  await step(() => closeCeleriac(parts.worker, undefined));
  for (const app of parts.apps ?? []) await step(() => closeCeleriac(undefined, app));
  if (!status.skip) await step(() => flushDbs(dbs));
  if (errors.length > 0) throw errors[0];
}
