/**
 * Validation of transport options shared by the virtual transports and the store-backed result
 * backends. Options arrive as an untyped record from configuration, so every read checks the type and
 * range and names the offending option; a typo'd value fails at startup, not hours later.
 */
import { ConfigurationError } from '../../errors.js';

/** Something logger-like: the broker reports through it instead of importing a logger. */
export interface BrokerLogger {
  warn(msg: string, obj?: Record<string, unknown>): void;
  error(msg: string, obj?: Record<string, unknown>): void;
}

/** The key an option is given under: `fooBar` if present, else kombu's `foo_bar`. */
export function optionKey(options: Record<string, unknown> | undefined, name: string): string {
  if (options && name in options) return name;
  const snake = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return options && snake in options ? snake : name;
}

/** Read a transport option under its camelCase or kombu snake_case name. */
export function readOption(options: Record<string, unknown> | undefined, name: string): unknown {
  return options?.[optionKey(options, name)];
}

export interface SecondsOption {
  /** camelCase name; kombu's snake_case spelling is accepted too. */
  name: string;
  default: number;
  /** Smallest allowed value (inclusive unless `exclusiveMin`). */
  min: number;
  exclusiveMin?: boolean;
  max?: number;
}

/**
 * Read a number of seconds from `options`, accepting `fooBar` and `foo_bar`. `setting` is the
 * configuration setting the options came from, e.g. `broker_transport_options`.
 */
export function readSeconds(options: Record<string, unknown> | undefined, setting: string, spec: SecondsOption): number {
  const key = optionKey(options, spec.name);
  const raw = options?.[key];
  if (raw === undefined || raw === null) return spec.default;
  const where = `${setting}.${key}`;
  if (typeof raw !== 'number' || !Number.isFinite(raw)) {
    throw new ConfigurationError(where, `expected a number of seconds, got ${JSON.stringify(raw)}`);
  }
  const tooSmall = spec.exclusiveMin ? raw <= spec.min : raw < spec.min;
  if (tooSmall || (spec.max !== undefined && raw > spec.max)) {
    const lower = spec.exclusiveMin ? `> ${spec.min}` : `>= ${spec.min}`;
    const upper = spec.max !== undefined ? ` and <= ${spec.max}` : '';
    throw new ConfigurationError(where, `must be ${lower}${upper} seconds, got ${raw}`);
  }
  return raw;
}
