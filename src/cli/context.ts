/** Shared CLI plumbing: global options, building the app, parsing flag values. */
import { Celery } from '../app/celery.js';
import type { ConfigInput } from '../app/config.js';
import { redactUrl } from '../utils/url.js';
import { CliError } from './errors.js';
import { loadApp } from './load-app.js';

export interface GlobalOptions {
  app?: string;
  broker?: string;
  resultBackend?: string;
  loglevel?: string;
}

/** Load `-A` (or make a bare app) and apply the global flags, which beat the environment. */
export async function appFromOptions(opts: GlobalOptions, extra: ConfigInput = {}): Promise<Celery> {
  const app = opts.app ? await loadApp(opts.app) : new Celery('celeriac');
  const overrides: ConfigInput = { ...extra };
  if (opts.broker) overrides.brokerUrl = opts.broker;
  if (opts.resultBackend) overrides.resultBackend = opts.resultBackend;
  if (opts.loglevel) overrides.logLevel = opts.loglevel as ConfigInput['logLevel'];
  app.configure(overrides);
  return app;
}

/** Connect and turn a connection failure into one clear line naming the (redacted) URL. */
export async function connect(app: Celery, what: 'broker' | 'backend' | 'both' = 'both'): Promise<void> {
  if (what !== 'backend') {
    try {
      await app.connectBroker();
    } catch (err) {
      throw new CliError(`cannot connect to broker ${redactUrl(app.conf.brokerUrl)}: ${(err as Error).message}`);
    }
  }
  if (what !== 'broker' && app.conf.resultBackend) {
    try {
      await app.connectBackend();
    } catch (err) {
      throw new CliError(`cannot connect to result backend ${redactUrl(app.conf.resultBackend)}: ${(err as Error).message}`);
    }
  }
}

export function parseJson(flag: string, text: string | undefined, kind: 'array' | 'object'): unknown {
  if (text === undefined) return kind === 'array' ? [] : {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${flag}: not valid JSON (${(err as Error).message}): ${text}`);
  }
  const ok = kind === 'array' ? Array.isArray(value) : typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!ok) throw new CliError(`${flag}: expected a JSON ${kind === 'array' ? 'array, e.g. [2, 2]' : 'object, e.g. {"x": 1}'}`);
  return value;
}

export function parseNumber(flag: string, text: string | undefined, { integer = false, min = 0 } = {}): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new CliError(`${flag}: expected ${integer ? 'an integer' : 'a number'} >= ${min}, got '${text}'`);
  }
  return n;
}
