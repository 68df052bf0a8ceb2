/**
 * Python Celery in child processes, for the interop tests: a Celery worker (`celery -A tasks worker`),
 * one-shot client scripts that print JSON, and the `celery` command line. Always Debian's
 * `/usr/bin/python3` (the `python3` on PATH may be an interpreter without Celery).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ROOT, runProcess, type CliResult } from './cli.js';
import { waitFor, within } from './wait.js';

export const PYTHON = '/usr/bin/python3';
/** Where the Python fixtures live (`tasks.py`, `client.py`); the cwd of every Python process. */
export const PYTHON_DIR = join(ROOT, 'test/interop/python');
export const REDIS_HOST = '127.0.0.1';
export const REDIS_PORT = 6379;

export const redisUrl = (db: number): string => `redis://${REDIS_HOST}:${REDIS_PORT}/${db}`;

/** A unique name for queues and node names, so test files never share them. */
export const uniqueName = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

export interface PythonCeleryStatus {
  /** Skip the interop tests (Python Celery or Redis missing, and not in CI). */
  skip: boolean;
  /** Why they cannot run; null when everything is there. */
  problem: string | null;
}

/**
 * Check once, synchronously (for `describe.skipIf`), that Debian's Python has Celery and redis-py and
 * that Redis answers. Outside CI a missing piece skips the tests; with CI=true it does not, so the
 * tests run and `requirePythonCelery()` fails them loudly.
 */
export function pythonCeleryStatus(): PythonCeleryStatus {
  const check = spawnSync(
    PYTHON,
    ['-c', `import celery, redis; redis.Redis(host='${REDIS_HOST}', port=${REDIS_PORT}, socket_connect_timeout=2).ping()`],
    { encoding: 'utf8', timeout: 15_000 },
  );
  let problem: string | null = null;
  if (check.error) problem = `cannot run ${PYTHON}: ${check.error.message}`;
  else if (check.status !== 0) {
    const last = check.stderr.trim().split('\n').pop() ?? '';
    problem = /redis\.exceptions|ConnectionError|ConnectionRefused/.test(last)
      ? `Redis does not answer on ${REDIS_HOST}:${REDIS_PORT} (${last})`
      : `${PYTHON} cannot import celery and redis (${last}); install python3-celery python3-redis`;
  }
  const ci = process.env.CI === 'true' || process.env.CI === '1';
  const skip = problem !== null && !ci;
  if (skip) console.error(`Skipping the Python Celery interop tests: ${problem} (with CI=true they run and fail)`);
  return { skip, problem };
}

/** A describe title that carries the skip reason when the tests are skipped. */
export function interopTitle(title: string, status: PythonCeleryStatus): string {
  return status.skip ? `${title} (skipped: ${status.problem})` : title;
}

/** In CI the interop tests must run: throw the reason they cannot. */
export function requirePythonCelery(status: PythonCeleryStatus): void {
  if (status.problem) throw new Error(`Python Celery interop tests cannot run: ${status.problem}`);
}

export interface PythonEnv {
  brokerUrl: string;
  backendUrl: string;
  /** The default queue of the Python app (`QUEUE`). */
  queue?: string;
}

function pythonEnv(env: PythonEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {
    ...process.env,
    BROKER_URL: env.brokerUrl,
    RESULT_BACKEND: env.backendUrl,
    QUEUE: env.queue ?? 'celery',
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONUNBUFFERED: '1',
  };
  delete out.PYTHONPATH;
  delete out.PYTHONHOME;
  return out;
}

export interface PythonWorker {
  proc: ChildProcess;
  /** The node name, e.g. `py-1a2b3c4d@host` (what `inspect -d` needs). */
  nodename: string;
  /** Everything the worker logged so far. */
  logs(): string;
  stop(): Promise<void>;
}

export interface PythonWorkerOptions extends PythonEnv {
  queue: string;
  concurrency?: number;
  module?: string;
  readyTimeoutMs?: number;
}

/** Start `celery -A tasks worker` on one queue and wait until it logs `ready.`. */
export async function startPythonWorker(options: PythonWorkerOptions): Promise<PythonWorker> {
  const name = uniqueName('py');
  const args = [
    '-m', 'celery', '-A', options.module ?? 'tasks', 'worker',
    '-P', 'threads', '-c', String(options.concurrency ?? 4), '-l', 'info',
    '-Q', options.queue, '--without-heartbeat', '--without-gossip', '--without-mingle',
    '-n', `${name}@%h`,
  ];
  const proc = spawn(PYTHON, args, { cwd: PYTHON_DIR, env: pythonEnv(options), stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  let nodename = '';
  const collect = (d: Buffer) => {
    logs += d.toString();
    nodename ||= new RegExp(`(${name}@\\S+?)\\s+(?:ready|v\\d)`).exec(logs)?.[1] ?? '';
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = () => stopProcess(proc, exited);
  try {
    await waitFor(() => /\bready\.$/m.test(logs) || proc.exitCode !== null || proc.signalCode !== null, options.readyTimeoutMs ?? 30_000, 'python worker ready');
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`python worker exited early (code ${proc.exitCode}):\n${logs}`);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- python worker log ---\n${logs}`);
  }
  return { proc, nodename: nodename || `${name}@unknown`, logs: () => logs, stop };
}

/** SIGTERM (Celery's warm shutdown), then SIGKILL if it is still running after `graceMs`. */
export async function stopProcess(proc: ChildProcess, exited: Promise<void>, graceMs = 10_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  try {
    await within(exited, graceMs, 'process exit after SIGTERM');
  } catch {
    proc.kill('SIGKILL');
    await within(exited, 5_000, 'process exit after SIGKILL');
  }
}

export type ProcessResult = CliResult;

/** Run `/usr/bin/python3 <args>` in the fixtures directory; killed after `timeoutMs`. */
export function runPython(args: string[], env: PythonEnv, timeoutMs = 30_000): Promise<ProcessResult> {
  return runProcess(PYTHON, args, { cwd: PYTHON_DIR, env: pythonEnv(env), timeoutMs });
}

/** Run the `celery` command line: `celery -A tasks <args>`. */
export function runCeleryCli(args: string[], env: PythonEnv, timeoutMs = 30_000): Promise<ProcessResult> {
  return runPython(['-m', 'celery', '-A', 'tasks', ...args], env, timeoutMs);
}

/** Run a client script (default `client.py`) with one JSON command and return the JSON it printed. */
export async function runPythonClient<T = Record<string, unknown>>(
  command: Record<string, unknown>,
  env: PythonEnv,
  { script = 'client.py', timeoutMs = 30_000 }: { script?: string; timeoutMs?: number } = {},
): Promise<T> {
  const res = await runPython([script, JSON.stringify(command)], env, timeoutMs);
  const last = res.stdout.trim().split('\n').pop() ?? '';
  if (res.code !== 0 || !last) {
    throw new Error(`python ${script} ${JSON.stringify(command)} exited with ${res.code}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
  }
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`python ${script} printed no JSON: ${res.stdout}\nstderr: ${res.stderr}`);
  }
}

/** What `client.py` prints for one result. */
export interface PyOutcome {
  id: string;
  ok: boolean;
  state: string;
  result?: unknown;
  exc_type?: string;
  exc_module?: string;
  exc_message?: string;
  exc_args?: unknown[];
  sent_at?: number;
  links?: PyOutcome[];
}
