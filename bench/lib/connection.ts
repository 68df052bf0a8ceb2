/** Connection options for libraries that take host/port/db rather than a URL (BullMQ, bee-queue). */
export interface RedisAddress {
  host: string;
  port: number;
  db: number;
}

export function redisAddress(base: string, db: number): RedisAddress {
  const url = new URL(base);
  return { host: url.hostname || '127.0.0.1', port: Number(url.port || 6379), db };
}

/** Arguments for a bench worker script: `<redis base url> <db> <concurrency>`. */
export function parseWorkerArgv(argv: string[]): { base: string; db: number; concurrency: number } {
  const [base, db, concurrency] = argv.slice(2);
  if (!base || !db || !concurrency) throw new Error('usage: <worker>.ts <redis-url> <db> <concurrency>');
  return { base, db: Number(db), concurrency: Number(concurrency) };
}
