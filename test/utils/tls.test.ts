import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { ConfigurationError } from '../../src/errors.js';
import { tlsFromKombuKeys } from '../../src/utils/tls.js';

const settingOf = (key: string) => `broker_use_ssl.${key}`;

it("maps kombu's TLS keys, reading the certificate files", () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-tls-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), 'CA');
    const keys: Record<string, string> = { cert_reqs: 'CERT_NONE', ca_certs: join(dir, 'ca.pem') };
    const tls = tlsFromKombuKeys((k) => keys[k], settingOf);
    expect(tls.rejectUnauthorized).toBe(false);
    expect(String(tls.ca)).toBe('CA');
    expect(tls.cert).toBeUndefined();
    expect(tlsFromKombuKeys(() => undefined, settingOf).rejectUnauthorized).toBeUndefined();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('names the setting of a bad cert_reqs or an unreadable file', () => {
  const bad = (keys: Record<string, string>) => {
    try {
      tlsFromKombuKeys((k) => keys[k], settingOf);
    } catch (err) {
      return err as ConfigurationError;
    }
    throw new Error('expected a ConfigurationError');
  };
  expect(bad({ cert_reqs: 'sometimes' })).toMatchObject({ setting: 'broker_use_ssl.cert_reqs' });
  expect(bad({ keyfile: '/no/such/key.pem' })).toMatchObject({ setting: 'broker_use_ssl.keyfile', message: expect.stringMatching(/cannot read \/no\/such\/key\.pem/) });
});
