/**
 * kombu's TLS keys (`cert_reqs`, `ca_certs`, `certfile`, `keyfile`, as in `broker_use_ssl` and the
 * `ssl_*` URL parameters) turned into Node TLS options, once for every transport that takes them.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { ConfigurationError } from '../errors.js';

const CERT_REQS: Record<string, boolean> = {
  required: true,
  cert_required: true,
  optional: false,
  cert_optional: false,
  none: false,
  cert_none: false,
};

const FILES = [
  ['ca_certs', 'ca'],
  ['certfile', 'cert'],
  ['keyfile', 'key'],
] as const;

/**
 * `lookup(key)` finds one of kombu's keys (without the `ssl_` prefix) wherever the transport keeps
 * them; `settingOf(key)` names the setting a bad value is reported under. `rejectUnauthorized` is
 * left unset when `cert_reqs` is absent, so each transport applies its own default.
 */
export function tlsFromKombuKeys(lookup: (key: string) => string | undefined, settingOf: (key: string) => string): TlsOptions {
  const tls: TlsOptions = {};
  const reqs = lookup('cert_reqs');
  if (reqs !== undefined) {
    const verify = CERT_REQS[reqs.toLowerCase()];
    if (verify === undefined) throw new ConfigurationError(settingOf('cert_reqs'), `ssl_cert_reqs must be required, optional or none, got ${reqs}`);
    tls.rejectUnauthorized = verify;
  }
  for (const [key, field] of FILES) {
    const path = lookup(key);
    if (path === undefined) continue;
    try {
      tls[field] = readFileSync(path);
    } catch (err) {
      throw new ConfigurationError(settingOf(key), `cannot read ${path}: ${(err as Error).message}`);
    }
  }
  return tls;
}
