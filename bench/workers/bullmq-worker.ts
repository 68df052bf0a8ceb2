/** BullMQ worker process: `bench.noop` returns null (kept as the job's return value); `noop_ignored` INCRs the counter. */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { parseWorkerArgv, redisAddress } from '../lib/connection.js';
import { redisUrl } from '../lib/util.js';

const { base, db, concurrency } = parseWorkerArgv(process.argv);
const counter = new Redis(redisUrl(base, db));

const worker = new Worker(
  'bench',
  async (job) => {
    if (job.name === 'noop_ignored') await counter.incr('bench:done');
    return null;
  },
  { connection: redisAddress(base, db), concurrency },
);
worker.on('error', (err) => console.error('bullmq worker error:', err.message));
await worker.waitUntilReady();

const stop = () => void worker.close().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
