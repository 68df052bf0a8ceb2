/**
 * A pool worker seen from the parent: a worker thread or a child process behind one small
 * interface, so the pool logic (../pools/runner-pool.ts) is written once for both.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker as ThreadWorker } from 'node:worker_threads';
import type { ChildMessage, ParentMessage } from './messages.js';

export interface Runner {
  /** Process id of a child process; the thread id for a thread. */
  readonly id: number;
  post(message: ParentMessage): void;
  /** Stop it now: `signal` is sent to a child process; a thread is terminated. */
  kill(signal?: NodeJS.Signals): void;
  onMessage(listener: (message: ChildMessage) => void): void;
  /** Called once, however it ended; `reason` describes an unexpected end. */
  onExit(listener: (reason: string) => void): void;
}

export type RunnerFactory = () => Runner;

/** The compiled entry (`.js`) next to this file, or the `.ts` source under tsx (tests, `tsx` runs). */
function childEntry(): { path: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const path = fileURLToPath(new URL(fromSource ? './child-main.ts' : './child-main.js', import.meta.url));
  return { path, execArgv: fromSource ? ['--import', 'tsx'] : [] };
}

/**
 * A thread's own entry module does not go through `--import` hooks, so from source a small
 * bootstrap registers tsx inside the thread first.
 */
function startThread(entry: { path: string; execArgv: string[] }): ThreadWorker {
  if (!entry.execArgv.length) return new ThreadWorker(entry.path);
  // The ESM build of tsx's API (require.resolve finds the CommonJS one next to it).
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(pathToFileURL(entry.path).href)}); });`;
  return new ThreadWorker(bootstrap, { eval: true });
}

/** Exit listeners called once, however many ways the end is reported (error, then exit). */
function exitOnce(): { exit: (reason: string) => void; onExit: (listener: (reason: string) => void) => void } {
  let exited = false;
  const listeners: ((reason: string) => void)[] = [];
  return {
    exit: (reason) => {
      if (exited) return;
      exited = true;
      for (const listener of listeners) listener(reason);
    },
    onExit: (listener) => void listeners.push(listener),
  };
}

export function spawnThreadRunner(): Runner {
  const thread = startThread(childEntry());
  const { exit, onExit } = exitOnce();
  thread.on('error', (err) => exit(`thread crashed: ${err.message}`));
  thread.on('exit', (code) => exit(`thread exited with code ${code}`));
  return {
    id: thread.threadId,
    post: (message) => thread.postMessage(message),
    kill: () => void thread.terminate(),
    onMessage: (listener) => thread.on('message', listener),
    onExit,
  };
}

export function spawnProcessRunner(): Runner {
  const entry = childEntry();
  const child: ChildProcess = fork(entry.path, [], {
    execArgv: [...entry.execArgv],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const { exit, onExit } = exitOnce();
  child.on('error', (err) => exit(`child process failed: ${err.message}`));
  child.on('exit', (code, signal) => exit(signal ? `child process exited by signal ${signal}` : `child process exited with code ${code}`));
  return {
    id: child.pid ?? -1,
    post: (message) => {
      if (child.connected) child.send(message);
    },
    kill: (signal = 'SIGKILL') => void child.kill(signal),
    onMessage: (listener) => child.on('message', (message) => listener(message as ChildMessage)),
    onExit,
  };
}
