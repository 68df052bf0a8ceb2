/**
 * CPU spent during a timed run, split by where it went: the worker process, the producer (this
 * process) and the Redis server. On a small machine the three share the cores, so the total, not
 * the worker alone, bounds throughput; the split shows where each system spends it.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { WorkerProcess } from './process.js';
import type { CpuSplit } from './types.js';

/** User + system CPU of `pid` (and its live children when asked), ms, from /proc. */
export function processCpuMs(pid: number, children: number[] = []): number {
  let total = 0;
  for (const p of [pid, ...children]) {
    try {
      // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (10 ms).
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      // gone: nothing to add
    }
  }
  return total;
}

/** Redis's own CPU (INFO cpu: used_cpu_user + used_cpu_sys), ms. */
export async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const read = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN);
  return (read('used_cpu_user') + read('used_cpu_sys')) * 1000;
}

function producerCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Run `work` and report the CPU the worker, this process and Redis spent meanwhile. */
export async function withCpu<T>(worker: WorkerProcess, redis: Redis, work: () => Promise<T>): Promise<{ value: T; cpu: CpuSplit }> {
  const before = { worker: processCpuMs(worker.pid), producer: producerCpuMs(), redis: await redisCpuMs(redis) };
  const value = await work();
  const cpu: CpuSplit = {
    workerMs: processCpuMs(worker.pid) - before.worker,
    producerMs: producerCpuMs() - before.producer,
    redisMs: (await redisCpuMs(redis)) - before.redis,
  };
  return { value, cpu };
}
