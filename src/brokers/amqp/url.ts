/**
 * AMQP URLs as kombu reads them (`kombu/utils/url.py::parse_url` + `kombu/transport/pyamqp.py`):
 *
 *   amqp://[user[:pass]@]host[:port][/vhost]     amqps://… (TLS, port 5671)     pyamqp://… (alias)
 *
 * The vhost is the path without its first `/`, URL-decoded: `amqp://h//` and `amqp://h/%2F` are vhost `/`,
 * `amqp://h/` and `amqp://h` are the default `/` too, `amqp://h/prod` is `prod`. User and password default
 * to guest/guest as in kombu. Several URLs separated by `;` are failover hosts, tried in order.
 */
import { ConfigurationError } from '../../errors.js';
import { redactUrl, urlScheme } from '../../utils/url.js';

export const AMQP_SCHEMES = ['amqp', 'amqps', 'pyamqp'] as const;

export interface AmqpEndpoint {
  protocol: 'amqp' | 'amqps';
  hostname: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
  /** Query parameters (e.g. `heartbeat`, `ssl_cert_reqs`), kept for the options reader. */
  query: URLSearchParams;
}

export function parseAmqpUrls(url: string, setting = 'broker_url'): AmqpEndpoint[] {
  const parts = url.split(';').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new ConfigurationError(setting, 'empty AMQP URL');
  return parts.map((part) => parseOne(part, setting));
}

function parseOne(url: string, setting: string): AmqpEndpoint {
  const redacted = redactUrl(url);
  const scheme = urlScheme(url);
  if (!scheme || !(AMQP_SCHEMES as readonly string[]).includes(scheme)) {
    throw new ConfigurationError(setting, `not an AMQP URL: ${redacted}`);
  }
  // WHATWG URL treats unknown schemes as opaque paths; parse as http to get kombu's authority/path split.
  let parsed: URL;
  try {
    parsed = new URL(`http${url.slice(scheme.length)}`);
  } catch {
    throw new ConfigurationError(setting, `cannot parse AMQP URL ${redacted}`);
  }
  const protocol = scheme === 'amqps' ? 'amqps' : 'amqp';
  const port = parsed.port ? Number(parsed.port) : protocol === 'amqps' ? 5671 : 5672;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new ConfigurationError(setting, `bad port in ${redacted}`);
  const rawPath = parsed.pathname.startsWith('/') ? parsed.pathname.slice(1) : parsed.pathname;
  let vhost: string;
  try {
    vhost = decodeURIComponent(rawPath) || '/';
  } catch {
    throw new ConfigurationError(setting, `bad virtual host in ${redacted}`);
  }
  return {
    protocol,
    hostname: parsed.hostname || '127.0.0.1',
    port,
    username: parsed.username ? decodeURIComponent(parsed.username) : 'guest',
    password: parsed.password ? decodeURIComponent(parsed.password) : 'guest',
    vhost,
    query: parsed.searchParams,
  };
}
