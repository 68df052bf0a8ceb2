/** Run the real `bin/celeriac.js` in child processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = 'bin/celeriac.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<CliResult> {
  return runProcess(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeoutMs });
}

/** Run a command to completion, collecting its output; SIGKILLed and rejected after `timeoutMs`. */
export function runProcess(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} timed out after ${options.timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface RunningWorker {
  child: ChildProcess;
  /** Everything the worker wrote to stderr (its log lines) so far. */
  logs(): string;
  exited: Promise<number | null>;
}

/** Start `celeriac worker` and wait until it logs that it is ready. */
export async function startWorker(args: string[], env: NodeJS.ProcessEnv): Promise<RunningWorker> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stderr.on('data', (d: Buffer) => (logs += d.toString()));
  child.stdout.on('data', (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor(() => logs.includes('worker ready') || child.exitCode !== null, 20_000);
  if (child.exitCode !== null) throw new Error(`worker exited early:\n${logs}`);
  return { child, logs: () => logs, exited };
}

/** SIGKILL every worker still running and wait for it to exit; empties the list (for afterEach). */
export async function killWorkers(workers: RunningWorker[]): Promise<void> {
  for (const w of workers.splice(0)) {
    if (w.child.exitCode === null) {
      w.child.kill('SIGKILL');
      await w.exited;
    }
  }
}
