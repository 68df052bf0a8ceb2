/**
 * Load a CommonJS dependency on first use instead of at import time. Serializers, compressors and
 * the SQLite driver are needed by few deployments; loading them eagerly cost every worker ~30 MB.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function lazyRequire<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(id) as T);
}
