/**
 * Python Celery 5.2 (Debian's, run with /usr/bin/python3: the pyenv python on PATH has no celery).
 * Worker = `celery worker -P threads`; producer = bench/python/producer.py, a Python client for the
 * Python worker, which times its own runs and prints JSON (so no Node code sits on Celery's path).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, spawnWorker } from '../lib/process.js';
import { systemDbs, type BenchOptions, type BenchSystem, type EnqueueTimings, type WorkerTimings } from '../lib/types.js';
import { redisUrl } from '../lib/util.js';

const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const DIR = join(ROOT, 'bench/python');

export async function createCelerySystem(o: BenchOptions): Promise<BenchSystem> {
  const [brokerDb = 0, backendDb = 0] = systemDbs('celery', o.dbBase);
  const env = {
    BENCH_BROKER_URL: redisUrl(o.redis, brokerDb),
    BENCH_BACKEND_URL: redisUrl(o.redis, backendDb),
    BENCH_COUNTER_URL: redisUrl(o.redis, brokerDb),
    PYTHONPATH: DIR,
    PYTHONDONTWRITEBYTECODE: '1',
  };
  // Fail early, with a clear message, when Celery is not importable.
  await runPython(['-c', 'import celery, redis'], env, 30_000);

  return {
    name: 'celery',
    label: 'Python Celery 5.2',
    dbs: [brokerDb, backendDb],
    defaultConcurrency: [16],
    rssWithChildren: true,

    async measureEnqueue(): Promise<EnqueueTimings> {
      const out = await runPython(['producer.py', 'enqueue', String(o.enqueueOne), String(o.enqueueBulk)], env, o.timeoutMs * 2);
      return JSON.parse(out) as EnqueueTimings;
    },

    startWorker(concurrency) {
      const args = ['-m', 'celery', '-A', 'tasks', 'worker', '-P', 'threads', '-c', String(concurrency), '-l', 'warning'];
      // Cluster chatter off, as is usual for a single benchmark worker.
      args.push('--without-heartbeat', '--without-gossip', '--without-mingle');
      return spawnWorker(PYTHON, args, env, DIR);
    },

    async measureWithWorker(worker): Promise<WorkerTimings> {
      // The producer is a Python process: it measures the CPU split itself, given the worker's pid.
      const args = ['producer.py', 'worker', String(o.tasks), String(o.latencyCalls), String(o.latencyWarmup), String(o.timeoutMs / 1000), String(worker.pid), String(o.e2eWarmup)];
      return JSON.parse(await runPython(args, env, o.timeoutMs * 4)) as WorkerTimings;
    },

    async close() {},
  };
}

/** Run /usr/bin/python3 in bench/python and return its stdout; reject with its stderr on failure. */
function runPython(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { cwd: DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-5000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => reject(new Error(`cannot run ${PYTHON}: ${err.message}`)));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout.trim().split('\n').pop() ?? '');
      else reject(new Error(`${PYTHON} ${args.join(' ')} failed (${code ?? signal}):\n${stderr.trim()}`));
    });
  });
}
