/** Reading the captured Celery samples in test/fixtures/celery-wire (see its README.md). */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURE_ROOT = fileURLToPath(new URL('../fixtures/celery-wire/', import.meta.url));

export interface WireFixture {
  celery_version: string;
  what: string;
  raw?: string;
  raw_base64?: string;
  decoded: unknown;
  value_decoding?: string[];
  body_decoding?: string[];
  [key: string]: unknown;
}

/** Fixture paths (relative to the fixture root) under `dir`, sorted, recursively. */
export function fixturePaths(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const child = join(abs, name);
      if (statSync(child).isDirectory()) walk(child);
      else if (name.endsWith('.json')) out.push(relative(FIXTURE_ROOT, child));
    }
  };
  walk(join(FIXTURE_ROOT, dir));
  return out;
}

export function loadFixture(path: string): WireFixture {
  return JSON.parse(readFileSync(join(FIXTURE_ROOT, path), 'utf8')) as WireFixture;
}

/** The raw stored bytes of a fixture. */
export function rawBytes(fixture: WireFixture): Buffer {
  if (fixture.raw_base64 !== undefined) return Buffer.from(fixture.raw_base64, 'base64');
  if (fixture.raw !== undefined) return Buffer.from(fixture.raw, 'utf8');
  throw new Error('fixture has neither raw nor raw_base64');
}
