/**
 * Loads the user's app module for `-A`: a `.ts` or `.js` file whose default export, or export named
 * `app`, is a Celery app. TypeScript loads through tsx's ESM hook, so no build step is needed.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Celery } from '../app/celery.js';
import { CliError } from './errors.js';

const EXTENSIONS = ['', '.ts', '.mts', '.js', '.mjs', '.cts', '.cjs'];

/** The file `-A spec` names (with a .ts/.js extension found as Node would not), or a clear error. */
export function resolveAppModule(spec: string, cwd = process.cwd()): string {
  const path = findModule(spec, cwd);
  if (!path) throw new CliError(`cannot load app module '${spec}': no such file (looked for ${resolve(cwd, spec)} with .ts/.js extensions)`);
  return path;
}

export async function loadApp(spec: string, cwd = process.cwd()): Promise<Celery> {
  const path = resolveAppModule(spec, cwd);
  if (/\.[mc]?ts$/.test(path)) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(`cannot load app module '${spec}': ${(err as Error).message.split('\n')[0]}`);
  }
  const candidate = [mod.default, mod.app, (mod.default as Record<string, unknown> | undefined)?.app].find(isApp);
  if (!candidate) {
    throw new CliError(`app module '${spec}' has no Celery app: export it as the default export or as 'app' (export const app = new Celery(...))`);
  }
  return candidate;
}

function findModule(spec: string, cwd: string): string | null {
  for (const ext of EXTENSIONS) {
    const path = resolve(cwd, spec + ext);
    if (existsSync(path) && !path.endsWith('/')) return path;
  }
  return null;
}

/** Duck-typed, so an app built with another copy of celeriac is still recognised. */
function isApp(value: unknown): value is Celery {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Celery).task === 'function' &&
    typeof (value as Celery).connectBroker === 'function' &&
    typeof (value as Celery).worker === 'function'
  );
}
