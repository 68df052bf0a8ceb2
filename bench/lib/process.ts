/** Worker processes: spawn one, watch its output, read its peak RSS, stop it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './util.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the worker wrote so far (stdout and stderr), for error messages. */
  logs(): string;
  /** Throws with the worker's output if it has exited (call while waiting on it). */
  assertAlive(): void;
  /** Peak RSS in bytes: VmHWM of the worker and, if `withChildren`, of its descendants summed. */
  peakRss(withChildren: boolean): number;
  stop(): Promise<void>;
}

export function spawnWorker(command: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): WorkerProcess {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  // Keep only the tail: a chatty worker must not grow the producer's memory.
  const append = (d: Buffer) => (output = (output + d.toString()).slice(-20_000));
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.pid === undefined) throw new Error(`cannot spawn ${command}`);
  const pid = child.pid;
  return {
    child,
    pid,
    logs: () => output,
    assertAlive() {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`worker exited (${child.exitCode ?? child.signalCode}):\n${output.slice(-3000)}`);
      }
    },
    peakRss(withChildren) {
      const pids = withChildren ? [pid, ...descendants(pid)] : [pid];
      return pids.reduce((sum, p) => sum + vmHwm(p), 0);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** VmHWM (peak resident set) of one process, in bytes; 0 if it is gone. */
export function vmHwm(pid: number): number {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** All descendants of `pid`, from /proc/<pid>/task/<tid>/children. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const child of text.split(/\s+/).filter(Boolean).map(Number)) out.push(child, ...descendants(child));
  }
  return out;
}

/** Settle with `work`, or reject as soon as the worker exits, so a crash fails fast with its output. */
export async function whileAlive<T>(worker: WorkerProcess, work: Promise<T>): Promise<T> {
  let onExit = (): void => undefined;
  const died = new Promise<never>((_, reject) => {
    onExit = () => reject(new Error(`worker exited (${worker.child.exitCode ?? worker.child.signalCode}):\n${worker.logs().slice(-3000)}`));
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) onExit();
    else worker.child.once('exit', onExit);
  });
  try {
    return await Promise.race([work, died]);
  } finally {
    worker.child.off('exit', onExit);
  }
}

/**
 * A bench script compiled to JavaScript (`tsconfig.bench.json` -> dist-bench/). Every Node worker
 * (celeriac, BullMQ, bee-queue) runs compiled, as production workers do, rather than through tsx's
 * loader (whose hooks thread and transpiler would add the same ~30 MB to each).
 */
export function benchScript(relative: string): string {
  return join(ROOT, 'dist-bench', relative);
}

/** Peak RSS of an idle Node process, started as the bench's Node workers are (compiled JS). */
export async function nodeBaselineRss(): Promise<number> {
  const idle = spawnWorker(process.execPath, [benchScript('workers/idle.js')], {});
  try {
    await waitFor(() => idle.logs().includes('ready') || idle.child.exitCode !== null, 30_000, 'the idle Node process');
    return idle.peakRss(false);
  } finally {
    await idle.stop();
  }
}
