import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compress, compressionNames, decompress } from '../../src/protocol/compression.js';

const TEXT = Buffer.from('[[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]');
const HELLO = Buffer.from('hello world hello world');
const hasZstd = typeof (zlib as unknown as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';

describe('compression', () => {
  it('lists the aliases kombu registers', () => {
    expect(compressionNames()).toEqual(['zlib', 'gzip', 'bzip2', 'bzip', 'brotli', 'lzma', 'xz', 'zstd', 'zstandard']);
  });

  it.each([
    ['zlib', 'application/x-gzip'],
    ['gzip', 'application/x-gzip'],
    ['bzip2', 'application/x-bz2'],
    ['bzip', 'application/x-bz2'],
    ['brotli', 'application/x-brotli'],
    ['lzma', 'application/x-lzma'],
    ['xz', 'application/x-lzma'],
    ['application/x-bz2', 'application/x-bz2'],
  ])('%s compresses under %s and round-trips', (name, mime) => {
    const { body, mime: got } = compress(name, TEXT);
    expect(got).toBe(mime);
    expect(body.equals(TEXT)).toBe(false);
    expect(decompress(mime, body).equals(TEXT)).toBe(true);
  });

  it.each(['zlib', 'bzip2', 'brotli', 'lzma'])('%s round-trips empty and binary data', (name) => {
    const binary = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256));
    for (const data of [Buffer.alloc(0), binary]) {
      const { body, mime } = compress(name, data);
      expect(decompress(mime, body).equals(data)).toBe(true);
    }
  });

  it('writes the zlib format for "gzip", as kombu does (zlib.compress)', () => {
    expect(compress('gzip', TEXT).body[0]).toBe(0x78);
  });

  it('writes the xz container for lzma, as Python lzma.compress does', () => {
    expect(compress('lzma', TEXT).body.subarray(0, 6).toString('hex')).toBe('fd377a585a00');
  });

  // Produced by Python 3.11's zlib, gzip, bz2 and lzma modules for b'hello world hello world'.
  it.each([
    ['zlib.compress', 'application/x-gzip', 'eJzLSM3JyVcozy/KSVHIQLABaecI2Q=='],
    ['gzip.compress (a real gzip stream)', 'application/x-gzip', 'H4sIAAAAAAACA8tIzcnJVyjPL8pJUchAsAE7zuLqFwAAAA=='],
    ['bz2.compress', 'application/x-bz2', 'QlpoOTFBWSZTWXZmjEIAAAORgEAABkSQgCAAIKqGnoEMCOxEV+1oYxGi7kinChIOzNGIQA=='],
    ['lzma.compress(format=FORMAT_ALONE)', 'application/x-lzma',
      'XQAAgAD//////////wA0GUnujekXiTozX/2BRBNUJ///+umAAA=='],
  ])('decompresses Python %s output', (_what, mime, base64) => {
    expect(decompress(mime, Buffer.from(base64, 'base64')).equals(HELLO)).toBe(true);
  });

  it('throws naming the valid methods for an unknown name', () => {
    expect(() => compress('snappy', TEXT)).toThrow(/unknown compression method "snappy"; valid: zlib, gzip, bzip2/);
    expect(() => decompress('application/x-snappy', TEXT)).toThrow(/unknown compression "application\/x-snappy"/);
  });

  it.each(['application/x-gzip', 'application/x-bz2', 'application/x-brotli', 'application/x-lzma'])(
    'reports corrupt %s data naming the method',
    (mime) => {
      expect(() => decompress(mime, Buffer.from('definitely not compressed'))).toThrow(
        new RegExp(`cannot decompress ${mime.replace('/', '\\/')} body`),
      );
    },
  );

  it.runIf(!hasZstd)('explains that zstd needs a newer Node', () => {
    expect(() => compress('zstd', TEXT)).toThrow(/zstd compression \(application\/zstd\) needs .*Node >= 22\.15/);
    expect(() => decompress('application/zstd', TEXT)).toThrow(/Node >= 22\.15/);
  });

  it.runIf(hasZstd)('round-trips zstd where node:zlib has it', () => {
    const { body, mime } = compress('zstd', TEXT);
    expect(mime).toBe('application/zstd');
    expect(decompress(mime, body).equals(TEXT)).toBe(true);
  });
});
