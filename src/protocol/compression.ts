/**
 * Body compression as kombu does it (`kombu/compression.py`): a method is chosen by alias, and the
 * message carries its mime type in `headers.compression`. Outputs decode with Python's codecs; the
 * bytes need not match Python's (compressor implementations differ), only the formats.
 */
import zlib from 'node:zlib';
import type * as LzmaModule from '@napi-rs/lzma';
import type CompressJs from 'compressjs';
import { lazyRequire } from '../utils/lazy-require.js';

const loadLzma = lazyRequire<typeof LzmaModule>('@napi-rs/lzma');
const loadCompressjs = lazyRequire<typeof CompressJs>('compressjs');

interface CompressionMethod {
  mime: string;
  aliases: readonly string[];
  compress(data: Buffer): Buffer;
  decompress(data: Buffer): Buffer;
}

/** Node's zstd support arrived in 22.15; on older runtimes the functions are absent. */
interface ZstdFunctions {
  zstdCompressSync?: (data: Buffer) => Buffer;
  zstdDecompressSync?: (data: Buffer) => Buffer;
}
const zstd = zlib as unknown as ZstdFunctions;

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

const METHODS: readonly CompressionMethod[] = [
  {
    mime: 'application/x-gzip',
    // kombu's "gzip" is `zlib.compress`: the zlib format (0x78 header), not a gzip file.
    aliases: ['zlib', 'gzip'],
    compress: (data) => zlib.deflateSync(data),
    // unzip detects the header, so a real gzip stream from another producer decodes too.
    decompress: (data) => zlib.unzipSync(data),
  },
  {
    mime: 'application/x-bz2',
    aliases: ['bzip2', 'bzip'],
    compress: (data) => toBuffer(loadCompressjs().Bzip2.compressFile(data)),
    decompress: (data) => toBuffer(loadCompressjs().Bzip2.decompressFile(data)),
  },
  {
    mime: 'application/x-brotli',
    aliases: ['brotli'],
    compress: (data) => zlib.brotliCompressSync(data),
    decompress: (data) => zlib.brotliDecompressSync(data),
  },
  {
    mime: 'application/x-lzma',
    aliases: ['lzma', 'xz'],
    // Python's lzma.compress defaults to the xz container.
    compress: (data) => loadLzma().xz.compressSync(data),
    // lzma.decompress (FORMAT_AUTO) also reads the legacy .lzma ("alone") format.
    decompress: (data) =>
      data.subarray(0, XZ_MAGIC.length).equals(XZ_MAGIC) ? loadLzma().xz.decompressSync(data) : loadLzma().lzma.decompressSync(data),
  },
  {
    mime: 'application/zstd',
    aliases: ['zstd', 'zstandard'],
    compress: (data) => requireZstd().compress(data),
    decompress: (data) => requireZstd().decompress(data),
  },
];

function requireZstd(): { compress: (d: Buffer) => Buffer; decompress: (d: Buffer) => Buffer } {
  const { zstdCompressSync, zstdDecompressSync } = zstd;
  if (!zstdCompressSync || !zstdDecompressSync) {
    throw new Error(
      `zstd compression (application/zstd) needs node:zlib zstd support (Node >= 22.15); ` +
        `this is Node ${process.versions.node}. Use zlib, bzip2, brotli or lzma instead.`,
    );
  }
  return { compress: (d) => zstdCompressSync(d), decompress: (d) => zstdDecompressSync(d) };
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Like kombu's `get_encoder`: accepts an alias (`zlib`) or the mime type itself. */
function findMethod(nameOrMime: string): CompressionMethod | undefined {
  const key = nameOrMime.trim().toLowerCase();
  return METHODS.find((m) => m.mime === key || m.aliases.includes(key));
}

/** Names accepted by `compress` (aliases and mime types are both accepted; these are the aliases). */
export function compressionNames(): string[] {
  return METHODS.flatMap((m) => m.aliases);
}

/** Compress a serialized body; `mime` goes into `headers.compression`. */
export function compress(name: string, data: Buffer): { body: Buffer; mime: string } {
  const method = findMethod(name);
  if (!method) {
    throw new Error(`unknown compression method ${JSON.stringify(name)}; valid: ${compressionNames().join(', ')}`);
  }
  return { body: method.compress(data), mime: method.mime };
}

/** Undo `compress`, given the `headers.compression` value. Throws naming the method on bad input. */
export function decompress(mime: string, data: Buffer): Buffer {
  const method = findMethod(mime);
  if (!method) {
    throw new Error(
      `unknown compression ${JSON.stringify(mime)}; valid: ${METHODS.map((m) => m.mime).join(', ')}`,
    );
  }
  if (method.mime === 'application/zstd') requireZstd(); // the "unsupported here" error, unwrapped
  try {
    return method.decompress(data);
  } catch (err) {
    throw new Error(`cannot decompress ${method.mime} body: ${(err as Error).message ?? String(err)}`);
  }
}
