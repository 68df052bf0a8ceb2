/**
 * `npm run bench:lone`: lone round trips (send one task, wait for its result, repeat), celeriac
 * against bee-queue, interleaved round by round, with where the CPU went and how often each process
 * slept. A tool for working on the p50 target, not part of `npm run bench`'s report: a lone round
 * trip on this machine moves by ±30 µs from run to run, so compare medians of several rounds.
 *
 *   npm run bench:lone -- --rounds 6 --calls 2000 --burst 5000 --warm 1000
 *
 * Per round and system: a fresh worker, a burst of `--burst` tasks (as `npm run bench` runs
 * throughput first), `--warm` round trips, then `--calls` measured ones. Printed per round trip:
 * CPU of the producer (this process), the worker and Redis; voluntary/involuntary context switches
 * of each (the worker and Redis main threads; a sleep in one is a wake-up another pays for); Redis
 * commands.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Queue from 'bee-queue';
import type { Redis } from 'ioredis';
import { processCpuMs, redisCpuMs } from './lib/cpu.js';
import { redisAddress } from './lib/connection.js';
import type { WorkerProcess } from './lib/process.js';
import type { BenchOptions, BenchSystem } from './lib/types.js';
import { flushDbs, percentile, redisClient, timeRoundTrips, waitFor, waitForCeleryResults } from './lib/util.js';
import { createBeeQueueSystem, jobRoundTrip } from './systems/bee-queue.js';
import { createCeleriacSystem } from './systems/celeriac.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    calls: { type: 'string', default: '2000' },
    burst: { type: 'string', default: '5000' },
    warm: { type: 'string', default: '1000' },
    systems: { type: 'string', default: 'celeriac,bee-queue' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    'celeriac-concurrency': { type: 'string', default: '1' },
    'bee-queue-concurrency': { type: 'string', default: '16' },
  },
  strict: true,
});
const count = (name: keyof typeof args): number => {
  const value = Number(args[name]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name}: expected a whole number, got ${String(args[name])}`);
  return value;
};
const base = args.redis as string;
const calls = Math.max(1, count('calls'));
const TIMEOUT_MS = 120_000;
// The adapters `npm run bench` uses, for their workers and DBs (only those fields are read here).
const benchOptions: BenchOptions = { redis: base, dbBase: 10, tasks: 0, enqueueOne: 0, enqueueBulk: 0, latencyCalls: calls, latencyWarmup: 0, e2eWarmup: 0, repeat: 1, timeoutMs: TIMEOUT_MS, concurrency: {} };
const stats = redisClient(base, 0);
const redisPid = Number(/process_id:(\d+)/.exec(await stats.info('server'))?.[1]);

interface Sample {
  p50: number;
  p90: number;
  /** Per round trip, µs. */
  cpu: { producer: number; worker: number; redis: number };
  /** Per round trip: [voluntary, involuntary] context switches. */
  switches: { producer: [number, number]; worker: [number, number]; redis: [number, number] };
  commands: number;
}

/** Context switches of a process's main thread, from /proc. */
function switches(pid: number): [number, number] {
  try {
    const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
    const read = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return [read('voluntary_ctxt_switches'), read('nonvoluntary_ctxt_switches')];
  } catch {
    return [0, 0];
  }
}

async function commandCount(redis: Redis): Promise<number> {
  let total = 0;
  for (const match of (await redis.info('commandstats')).matchAll(/calls=(\d+)/g)) total += Number(match[1]);
  return total;
}

async function measure(worker: WorkerProcess, roundTrip: () => Promise<unknown>): Promise<Sample> {
  const pids = { producer: process.pid, worker: worker.pid, redis: redisPid };
  const before = { s: Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, switches(p)])), cpu: process.cpuUsage(), worker: processCpuMs(worker.pid), redis: await redisCpuMs(stats), commands: await commandCount(stats) };
  const { latenciesMs: latencies } = await timeRoundTrips(calls, 0, roundTrip);
  // (less the first reading's own INFO commandstats, which this one counts)
  const commands = (await commandCount(stats)) - before.commands - 1;
  const redis = await redisCpuMs(stats);
  const cpu = process.cpuUsage(before.cpu);
  const delta = (name: keyof typeof pids): [number, number] => {
    const [v, n] = switches(pids[name]);
    const [v0, n0] = before.s[name] as [number, number];
    return [(v - v0) / calls, (n - n0) / calls];
  };
  return {
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    cpu: { producer: (cpu.user + cpu.system) / calls, worker: ((processCpuMs(worker.pid) - before.worker) * 1000) / calls, redis: ((redis - before.redis) * 1000) / calls },
    switches: { producer: delta('producer'), worker: delta('worker'), redis: delta('redis') },
    commands: commands / calls,
  };
}

/** One round of a system: a fresh worker, the burst, the warm-up calls, then the measured ones. */
async function runRound(system: BenchSystem, concurrency: number, burst: () => Promise<void>, roundTrip: () => Promise<unknown>): Promise<Sample> {
  await flushDbs(base, system.dbs);
  const worker = system.startWorker(concurrency);
  try {
    await roundTrip();
    await burst();
    for (let i = 0; i < count('warm'); i++) await roundTrip();
    return await measure(worker, roundTrip);
  } finally {
    await worker.stop();
  }
}

async function celeriacRounds(): Promise<{ run: () => Promise<Sample>; close: () => Promise<void> }> {
  const system = await createCeleriacSystem(benchOptions);
  const { noop } = await import('./celeriac-tasks.js');
  const backend = redisClient(base, system.dbs[1]!);
  const burst = async () => {
    const ids: string[] = [];
    for (let sent = 0; sent < count('burst'); sent += 1000) {
      for (const r of await noop.delayMany(Array.from({ length: Math.min(1000, count('burst') - sent) }, () => [] as []))) ids.push(r.id);
    }
    await waitForCeleryResults(backend, ids, TIMEOUT_MS);
  };
  const roundTrip = async () => (await noop.delay()).get({ timeout: TIMEOUT_MS });
  return {
    run: () => runRound(system, count('celeriac-concurrency'), burst, roundTrip),
    close: async () => {
      backend.disconnect();
      await system.close();
    },
  };
}

async function beeQueueRounds(): Promise<{ run: () => Promise<Sample>; close: () => Promise<void> }> {
  const system = await createBeeQueueSystem(benchOptions);
  const redis = redisAddress(base, system.dbs[0]!);
  const waiting = new Queue('noop', { redis, isWorker: false, getEvents: true, storeJobs: false });
  const lean = new Queue('noop', { redis, isWorker: false, getEvents: false, storeJobs: false });
  await Promise.all([waiting.ready(), lean.ready()]);
  const burst = async () => {
    const target = (await lean.checkHealth()).succeeded + count('burst');
    for (let sent = 0; sent < count('burst'); sent += 1000) await lean.saveAll(Array.from({ length: Math.min(1000, count('burst') - sent) }, () => lean.createJob({})));
    await waitFor(async () => (await lean.checkHealth()).succeeded >= target, TIMEOUT_MS, 'the bee-queue burst', 5);
  };
  return {
    run: () => runRound(system, count('bee-queue-concurrency'), burst, jobRoundTrip(waiting, TIMEOUT_MS)),
    close: async () => {
      await Promise.allSettled([waiting.close(), lean.close()]);
      await system.close();
    },
  };
}

const SYSTEMS: Record<string, typeof celeriacRounds> = { celeriac: celeriacRounds, 'bee-queue': beeQueueRounds };
const names = (args.systems as string).split(',').map((s) => s.trim());
for (const name of names) if (!SYSTEMS[name]) throw new Error(`--systems: unknown ${name}; known: ${Object.keys(SYSTEMS).join(', ')}`);
const systems = new Map<string, Awaited<ReturnType<typeof celeriacRounds>>>();
for (const name of names) systems.set(name, await SYSTEMS[name]!());

const us = (n: number) => n.toFixed(0).padStart(4);
const sw = ([v, n]: [number, number]) => `${v.toFixed(2)}/${n.toFixed(2)}`;
const results = new Map<string, Sample[]>();
for (let round = 1; round <= count('rounds'); round++) {
  for (const [name, system] of systems) {
    const s = await system.run();
    (results.get(name) ?? results.set(name, []).get(name)!).push(s);
    console.log(
      `${name.padEnd(9)} [${round}] p50 ${s.p50.toFixed(3)} p90 ${s.p90.toFixed(3)} ms | CPU µs/rt producer ${us(s.cpu.producer)} worker ${us(s.cpu.worker)} redis ${us(s.cpu.redis)}` +
        ` | switches/rt vol/invol producer ${sw(s.switches.producer)} worker ${sw(s.switches.worker)} redis ${sw(s.switches.redis)} | ${s.commands.toFixed(2)} commands/rt`,
    );
  }
}
for (const [name, samples] of results) {
  const med = (pick: (s: Sample) => number) => percentile(samples.map(pick), 50);
  console.log(`median ${name.padEnd(9)} p50 ${med((s) => s.p50).toFixed(3)} ms | CPU µs/rt producer ${us(med((s) => s.cpu.producer))} worker ${us(med((s) => s.cpu.worker))} redis ${us(med((s) => s.cpu.redis))}`);
}
stats.disconnect();
for (const system of systems.values()) await system.close();
