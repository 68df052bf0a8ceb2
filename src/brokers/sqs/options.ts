/**
 * `sqs://` URLs and the SQS transport options, validated at startup with Celery's defaults. Every
 * error names the option; no error or log line ever carries a secret key.
 *
 *   sqs://                                   default AWS credential chain (env, profile, instance role)
 *   sqs://<access key>:<secret key>@         URL-quoted credentials (`/` → %2F, `+` → %2B)
 *   sqs://<key>:<secret>@<host>[:<port>]     as kombu: the host is the endpoint (http, https with isSecure)
 */
import { ConfigurationError } from '../../errors.js';
import { redactUrl, urlScheme } from '../../utils/url.js';
import { optionKey, readOption } from '../virtual/options.js';

const SETTING = 'broker_transport_options';
export const SQS_MAX_VISIBILITY = 43_200;

export interface SqsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface PredefinedQueue {
  url: string;
  /** Raw (not URL-quoted) credentials for this queue only; else the URL's or the default chain. */
  credentials?: SqsCredentials;
  region?: string;
  /** ApproximateReceiveCount → seconds of invisibility after a failure of one of `backoffTasks`. */
  backoffPolicy: ReadonlyMap<number, number>;
  backoffTasks: ReadonlySet<string>;
}

export interface SqsOptions {
  /** The URL with its secret redacted. */
  redactedUrl: string;
  credentials?: SqsCredentials;
  region: string;
  endpointUrl?: string;
  visibilityTimeout: number;
  waitTimeSeconds: number;
  pollingInterval: number;
  queueNamePrefix: string;
  /** Keyed by the SQS queue name (after prefix and mangling), as kombu keys them. */
  predefinedQueues: ReadonlyMap<string, PredefinedQueue>;
  /** kombu's `sqs_base64_encoding`: the envelope is base64 text in MessageBody (the default). */
  base64Encoding: boolean;
  /** Extra CreateQueue attributes (kombu's `sqs-creation-attributes`). */
  creationAttributes: Record<string, string>;
  /** Assume this IAM role for every SQS call (kombu's `sts_role_arn`). */
  sts?: { roleArn: string; tokenTimeout: number };
}

function fail(name: string, options: Record<string, unknown> | undefined, message: string): never {
  throw new ConfigurationError(`${SETTING}.${optionKey(options, name)}`, message);
}

/** Parse the URL's authority by hand: `new URL` refuses `sqs://key:secret@` (credentials, no host). */
export function parseSqsUrl(url: string): { credentials?: SqsCredentials; host?: string; redactedUrl: string } {
  const redactedUrl = redactUrl(url);
  if (urlScheme(url) !== 'sqs') throw new ConfigurationError('broker_url', `not an SQS URL: ${redactedUrl}`);
  if (!url.toLowerCase().startsWith('sqs://')) throw new ConfigurationError('broker_url', `expected sqs://…, got ${redactedUrl}`);
  const rest = url.slice('sqs://'.length);
  // The secret may hold an unquoted `/`: the authority ends at the last `@`, else at the first `/`.
  const query = rest.search(/[?#]/);
  const beforeQuery = query === -1 ? rest : rest.slice(0, query);
  const at = beforeQuery.lastIndexOf('@');
  const userinfo = at === -1 ? '' : beforeQuery.slice(0, at);
  const afterAuth = at === -1 ? beforeQuery : beforeQuery.slice(at + 1);
  const host = afterAuth.split('/')[0] ?? '';
  let credentials: SqsCredentials | undefined;
  if (at !== -1) {
    const colon = userinfo.indexOf(':');
    if (colon <= 0 || colon === userinfo.length - 1) {
      throw new ConfigurationError('broker_url', `expected sqs://<access key>:<secret key>@ with both parts, got ${redactedUrl}`);
    }
    try {
      credentials = {
        accessKeyId: decodeURIComponent(userinfo.slice(0, colon)),
        secretAccessKey: decodeURIComponent(userinfo.slice(colon + 1)),
      };
    } catch {
      throw new ConfigurationError('broker_url', `credentials are not valid URL-quoted text in ${redactedUrl}`);
    }
  }
  if (host && !/^[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9a-fA-F:.]+\](:\d+)?$/.test(host)) {
    throw new ConfigurationError('broker_url', `bad endpoint host in ${redactedUrl}`);
  }
  return { credentials, host: host || undefined, redactedUrl };
}

export function parseSqsOptions(url: string, transportOptions?: Record<string, unknown>): SqsOptions {
  const opts = transportOptions;
  const parsed = parseSqsUrl(url);
  const predefinedQueues = readPredefinedQueues(opts);
  const sts = readSts(opts);
  return {
    sts,
    redactedUrl: parsed.redactedUrl,
    credentials: parsed.credentials,
    region: readString(opts, 'region') ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    endpointUrl: readEndpoint(opts, parsed.host),
    visibilityTimeout: readInteger(opts, 'visibilityTimeout', 1800, 0, SQS_MAX_VISIBILITY),
    waitTimeSeconds: readInteger(opts, 'waitTimeSeconds', 10, 0, 20),
    pollingInterval: readPollingInterval(opts),
    queueNamePrefix: readString(opts, 'queueNamePrefix') ?? '',
    predefinedQueues,
    base64Encoding: readBoolean(opts, 'sqsBase64Encoding', true),
    creationAttributes: readCreationAttributes(opts),
  };
}

function readString(opts: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = readOption(opts, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') fail(name, opts, `expected a string, got ${JSON.stringify(value)}`);
  return value;
}

function readBoolean(opts: Record<string, unknown> | undefined, name: string, fallback: boolean): boolean {
  const value = readOption(opts, name);
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') fail(name, opts, `expected true or false, got ${JSON.stringify(value)}`);
  return value;
}

/** SQS takes whole seconds only, so these are integers. */
function readInteger(opts: Record<string, unknown> | undefined, name: string, fallback: number, min: number, max: number): number {
  const value = readOption(opts, name);
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(name, opts, `must be a whole number of seconds from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function readPollingInterval(opts: Record<string, unknown> | undefined): number {
  const value = readOption(opts, 'pollingInterval');
  if (value === undefined || value === null) return 1;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 3600) {
    fail('pollingInterval', opts, `must be a number of seconds (int or float) from 0 to 3600, got ${JSON.stringify(value)}`);
  }
  return value;
}

function readEndpoint(opts: Record<string, unknown> | undefined, urlHost: string | undefined): string | undefined {
  const value = readString(opts, 'endpointUrl');
  if (value !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      fail('endpointUrl', opts, 'expected an http:// or https:// URL');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail('endpointUrl', opts, 'expected an http:// or https:// URL');
    if (parsed.username || parsed.password) fail('endpointUrl', opts, 'must not carry credentials; put them in the broker URL');
    return value;
  }
  // kombu builds the endpoint from the URL's host: https only when `is_secure` is set.
  if (urlHost) return `${readBoolean(opts, 'isSecure', false) ? 'https' : 'http'}://${urlHost}`;
  // The AWS SDK's own variables, read here so queue URLs never override them (see queues.ts).
  return process.env.AWS_ENDPOINT_URL_SQS || process.env.AWS_ENDPOINT_URL || undefined;
}

function readCreationAttributes(opts: Record<string, unknown> | undefined): Record<string, string> {
  const key = opts && 'sqs-creation-attributes' in opts ? 'sqs-creation-attributes' : optionKey(opts, 'sqsCreationAttributes');
  const value = opts?.[key];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigurationError(`${SETTING}.${key}`, 'expected an object of CreateQueue attributes');
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}

function readSts(opts: Record<string, unknown> | undefined): SqsOptions['sts'] {
  const roleArn = readString(opts, 'stsRoleArn');
  const timeout = readOption(opts, 'stsTokenTimeout');
  if (timeout !== undefined && timeout !== null) {
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 900 || timeout > 43_200) {
      fail('stsTokenTimeout', opts, `must be a whole number of seconds from 900 (the minimum, and the default) to 43200, got ${JSON.stringify(timeout)}`);
    }
  }
  if (roleArn === undefined) return undefined;
  if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/.+/.test(roleArn)) fail('stsRoleArn', opts, `expected an IAM role ARN (arn:aws:iam::<account>:role/<name>), got ${JSON.stringify(roleArn)}`);
  return { roleArn, tokenTimeout: typeof timeout === 'number' ? timeout : 900 };
}

function readPredefinedQueues(opts: Record<string, unknown> | undefined): Map<string, PredefinedQueue> {
  const raw = readOption(opts, 'predefinedQueues');
  const out = new Map<string, PredefinedQueue>();
  if (raw === undefined || raw === null) return out;
  const where = `${SETTING}.${optionKey(opts, 'predefinedQueues')}`;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigurationError(where, 'expected an object mapping queue names to { url, … }');
  for (const [name, entry] of Object.entries(raw as Record<string, unknown>)) {
    out.set(name, readPredefinedQueue(`${where}.${name}`, name, entry));
  }
  return out;
}

function readPredefinedQueue(where: string, name: string, entry: unknown): PredefinedQueue {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigurationError(where, 'expected an object with a url');
  const q = entry as Record<string, unknown>;
  const field = (n: string): unknown => readOption(q, n);
  const url = field('url');
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw new ConfigurationError(`${where}.url`, 'expected the queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)');
  // kombu's _validate_predifined_queues: FIFO names and URLs go together.
  if (url.endsWith('.fifo') !== name.endsWith('.fifo')) {
    throw new ConfigurationError(where, url.endsWith('.fifo') ? `a FIFO queue URL needs a name ending in .fifo` : `a name ending in .fifo needs a FIFO queue URL`);
  }
  const accessKeyId = field('accessKeyId');
  const secretAccessKey = field('secretAccessKey');
  let credentials: SqsCredentials | undefined;
  if (accessKeyId !== undefined || secretAccessKey !== undefined) {
    // Never echo these values: one of them is a secret.
    if (typeof accessKeyId !== 'string' || !accessKeyId || typeof secretAccessKey !== 'string' || !secretAccessKey) {
      throw new ConfigurationError(where, 'accessKeyId and secretAccessKey must both be non-empty strings (raw, not URL-quoted)');
    }
    credentials = { accessKeyId, secretAccessKey };
  }
  const region = field('region');
  if (region !== undefined && typeof region !== 'string') throw new ConfigurationError(`${where}.region`, 'expected a string');
  return {
    url,
    credentials,
    region: region as string | undefined,
    backoffPolicy: readBackoffPolicy(`${where}.${optionKey(q, 'backoffPolicy')}`, field('backoffPolicy')),
    backoffTasks: readBackoffTasks(`${where}.${optionKey(q, 'backoffTasks')}`, field('backoffTasks')),
  };
}

function readBackoffPolicy(where: string, value: unknown): Map<number, number> {
  const policy = new Map<number, number>();
  if (value === undefined || value === null) return policy;
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigurationError(where, 'expected an object like {1: 10, 2: 20} (receive count → seconds)');
  for (const [count, seconds] of Object.entries(value as Record<string, unknown>)) {
    const n = Number(count);
    if (!Number.isInteger(n) || n < 1) throw new ConfigurationError(where, `keys are receive counts (integers >= 1), got ${JSON.stringify(count)}`);
    if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0 || seconds > SQS_MAX_VISIBILITY) {
      throw new ConfigurationError(where, `values are whole seconds from 0 to ${SQS_MAX_VISIBILITY}, got ${JSON.stringify(seconds)} for ${count}`);
    }
    policy.set(n, seconds);
  }
  return policy;
}

function readBackoffTasks(where: string, value: unknown): Set<string> {
  if (value === undefined || value === null) return new Set();
  if (!Array.isArray(value) || !value.every((t) => typeof t === 'string')) throw new ConfigurationError(where, 'expected a list of task names');
  return new Set(value as string[]);
}
