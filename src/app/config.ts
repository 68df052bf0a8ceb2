/**
 * Configuration resolution. Precedence, lowest first: defaults, constructor options, environment
 * variables (`CELERIAC_*`), then explicit overrides (CLI flags). Every value is validated against the
 * settings table; a bad one fails fast with a `ConfigurationError` naming the setting.
 */
import type { z } from 'zod';
import { ConfigurationError } from '../errors.js';
import { SETTINGS, type SettingName, type SettingSpec } from './settings.js';

export type Config = { [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> };

/** Options accepted by `new Celery(name, options)`: our names, Celery's names, or `broker`/`backend`. */
export type ConfigInput = Partial<Config> & {
  broker?: string;
  backend?: string | null;
  [celerySettingName: string]: unknown;
};

const ALIASES: Record<string, SettingName> = { broker: 'brokerUrl', backend: 'resultBackend' };
const BY_CELERY_NAME = new Map<string, SettingName>(
  (Object.entries(SETTINGS) as [SettingName, SettingSpec][]).map(([key, spec]) => [spec.celery, key]),
);

/** Map any accepted spelling of a setting to our key, or null. */
export function settingKey(name: string): SettingName | null {
  if (name in SETTINGS) return name as SettingName;
  return ALIASES[name] ?? BY_CELERY_NAME.get(name) ?? null;
}

export function defaultConfig(): Config {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(SETTINGS) as [SettingName, SettingSpec][]) {
    out[key] = structuredClone(spec.default);
  }
  return out as Config;
}

/** Validate and apply `input` on top of `base`, returning a new config. */
export function applyConfig(base: Config, input: Record<string, unknown>, source = 'option'): Config {
  const out: Record<string, unknown> = { ...base };
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined) continue;
    const key = settingKey(name);
    if (!key) throw new ConfigurationError(name, `unknown ${source}; see docs/configuration.md for the settings`);
    out[key] = validate(key, value, name);
  }
  return out as Config;
}

export function validate(key: SettingName, value: unknown, shownName: string = key): unknown {
  const spec: SettingSpec = SETTINGS[key];
  const parsed = spec.schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length ? ` at ${issue.path.join('.')}` : '';
    throw new ConfigurationError(shownName, `${issue?.message ?? 'invalid value'}${where}`);
  }
  return parsed.data;
}

/** Read `CELERIAC_*` variables, converting text to the setting's type. */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(SETTINGS) as [SettingName, SettingSpec][]) {
    if (!spec.env) continue;
    const raw = env[spec.env];
    if (raw === undefined || raw === '') continue;
    out[key] = validate(key, parseEnvText(spec, raw), spec.env);
  }
  return out;
}

function parseEnvText(spec: SettingSpec, raw: string): unknown {
  const text = raw.trim();
  if (/^(null|none)$/i.test(text) && spec.schema.safeParse(null).success) return null;
  const sample = spec.default;
  if (typeof sample === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off)$/i.test(text)) return false;
    return text;
  }
  if (Array.isArray(sample)) return text.split(',').map((s) => s.trim()).filter(Boolean);
  if (typeof sample === 'object' && sample !== null) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ConfigurationError(spec.env ?? spec.celery, 'expected a JSON object');
    }
  }
  if (typeof sample === 'number' || (sample === null && spec.schema.safeParse(1).success)) {
    const n = Number(text);
    return Number.isNaN(n) ? text : n;
  }
  return text;
}
