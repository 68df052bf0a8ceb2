/** Logging through pino, to stderr, so stdout stays free for command output (e.g. `celeriac call`). */
import pino from 'pino';

type Logger = pino.Logger;

export type { Logger };

const LEVELS: Record<string, string> = { warning: 'warn', critical: 'fatal' };

export function normalizeLevel(level: string): string {
  const lower = level.toLowerCase();
  return LEVELS[lower] ?? lower;
}

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    { level: normalizeLevel(level), base: { pid: process.pid, ...bindings } },
    pino.destination({ dest: 2, sync: true }),
  );
}
