/**
 * Spawn a TypeScript helper script in a separate Node process (`node --import tsx`) and read the JSON
 * lines it prints, for tests that need a second process (cross-process delivery, SIGKILL recovery).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { waitFor } from './wait.js';

export interface ChildEvent {
  event: string;
  [key: string]: unknown;
}

export interface Child {
  proc: ChildProcess;
  events: ChildEvent[];
  /** Resolves with the exit code (or null when killed by a signal). */
  exited: Promise<number | null>;
  /** Wait until an event matching `predicate` has been printed; returns it. */
  next(predicate: (e: ChildEvent) => boolean, timeoutMs?: number): Promise<ChildEvent>;
  send(text: string): void;
}

export function spawnTs(script: string, args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events: ChildEvent[] = [];
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as ChildEvent);
    } catch {
      events.push({ event: 'stdout', line });
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    events,
    exited,
    async next(predicate, timeoutMs = 15_000) {
      let found: ChildEvent | undefined;
      await waitFor(
        () => {
          const fatal = events.find((e) => e.event === 'fatal');
          if (fatal) throw new Error(`child failed: ${String(fatal.error)}`);
          found = events.find(predicate);
          return found !== undefined;
        },
        timeoutMs,
        'child event',
      );
      return found as ChildEvent;
    },
    send(text) {
      proc.stdin?.write(text);
    },
  };
}
