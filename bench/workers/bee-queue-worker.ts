/**
 * bee-queue worker process. Two queues, because bee-queue's result handling is per queue:
 * `noop` keeps succeeded jobs and publishes the result event (bee-queue has no result store; this is
 * its closest equivalent); `noop_ignored` removes jobs on success, sends no events and INCRs the counter.
 */
import Queue from 'bee-queue';
import { Redis } from 'ioredis';
import { parseWorkerArgv, redisAddress } from '../lib/connection.js';
import { redisUrl } from '../lib/util.js';

const { base, db, concurrency } = parseWorkerArgv(process.argv);
const redis = redisAddress(base, db);
const counter = new Redis(redisUrl(base, db));

const withResults = new Queue('noop', { redis, isWorker: true, getEvents: false, removeOnSuccess: false, sendEvents: true });
const ignored = new Queue('noop_ignored', { redis, isWorker: true, getEvents: false, removeOnSuccess: true, sendEvents: false });
withResults.process(concurrency, async () => null);
ignored.process(concurrency, async () => {
  await counter.incr('bench:done');
  return null;
});
for (const q of [withResults, ignored]) q.on('error', (err) => console.error('bee-queue worker error:', err.message));
await Promise.all([withResults.ready(), ignored.ready()]);

const stop = () => void Promise.all([withResults.close(), ignored.close()]).finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
