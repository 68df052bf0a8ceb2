/** The shapes shared by the runner, the system adapters and the report. */
import type { WorkerProcess } from './process.js';

export const SYSTEM_NAMES = ['celeriac', 'bullmq', 'bee-queue', 'celery'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

export interface BenchOptions {
  /** Redis server, without a DB number: `redis://127.0.0.1:6379`. */
  redis: string;
  /** First of the six DBs the bench owns (celeriac 2, BullMQ 1, bee-queue 1, Celery 2). */
  dbBase: number;
  /** Tasks per end-to-end run. */
  tasks: number;
  enqueueOne: number;
  enqueueBulk: number;
  latencyCalls: number;
  /** Round trips run, unmeasured, before the measured ones (JIT and caches warm on the lone-call path). */
  latencyWarmup: number;
  /** Tasks run end to end, unmeasured, before the measured e2e runs of each worker setting. */
  e2eWarmup: number;
  repeat: number;
  /** Deadline for any single wait (worker start, a run finishing). */
  timeoutMs: number;
  /** Worker concurrency settings to try, per system (overrides each system's defaults). */
  concurrency: Partial<Record<SystemName, number[]>>;
}

/** Raw timings of one system with one worker setting (milliseconds). */
/** CPU spent during the timed e2e-with-results run, ms (from /proc and Redis's INFO cpu). */
export interface CpuSplit {
  workerMs: number;
  producerMs: number;
  redisMs: number;
}

export interface WorkerTimings {
  e2eResultsMs: number;
  /** CPU during the e2e-with-results run, when measured. */
  e2eCpu?: CpuSplit;
  e2eIgnoredMs: number;
  latenciesMs: number[];
  /** Round trips early in the warm-up (see `timeRoundTrips`); empty when not measured. */
  earlyLatenciesMs?: number[];
}

export interface EnqueueTimings {
  oneMs: number;
  bulkMs: number;
}

/** Figures for one worker setting, derived from timings (rates in tasks/s, latency in ms). */
export interface WorkerRun {
  concurrency: number;
  e2eResults: number;
  e2eIgnored: number;
  p50: number;
  p99: number;
  /** p50 of the round trips early in the warm-up, or null when not measured. */
  earlyP50: number | null;
  rssBytes: number;
  /** CPU per task during the e2e-with-results run, µs; null when not measured. */
  cpuPerTask: CpuSplit | null;
}

export interface SystemResult {
  name: SystemName;
  label: string;
  enqueueOne: number;
  enqueueBulk: number;
  /** One entry per worker concurrency that completed (in at least one repeat). */
  runs: WorkerRun[];
  /** Worker settings that failed, one line each. */
  failures: string[];
}

/** One system under test. The runner flushes `dbs` and owns the worker's lifetime. */
export interface BenchSystem {
  readonly name: SystemName;
  readonly label: string;
  /** Redis DBs this system uses; each is FLUSHDB'd before its runs. */
  readonly dbs: number[];
  readonly defaultConcurrency: number[];
  /** Sum the worker's child processes into its RSS (Celery's pool may fork). */
  readonly rssWithChildren: boolean;
  /** Enqueue rates, measured with no worker running so the producer has the machine to itself. */
  measureEnqueue(): Promise<EnqueueTimings>;
  startWorker(concurrency: number): WorkerProcess;
  /** With the worker running: wait until it answers, warm up, then time the runs. */
  measureWithWorker(worker: WorkerProcess): Promise<WorkerTimings>;
  close(): Promise<void>;
}

/** The bench's six Redis DBs from `base`: each system its own, so each can be flushed alone. */
export function systemDbs(name: SystemName, base: number): number[] {
  const offsets: Record<SystemName, number[]> = { celeriac: [0, 1], bullmq: [2], 'bee-queue': [3], celery: [4, 5] };
  return offsets[name].map((offset) => base + offset);
}
