/**
 * `npm run bench`: celeriac, BullMQ, bee-queue and Python Celery on the same Redis, one worker
 * process per system, figures printed and written to docs/benchmarks.md. Repeats go round the systems
 * (all first repeats, then all second ones, ...), so the machine's slow spells fall on each alike.
 *
 *   npm run bench -- --only bullmq,bee-queue --tasks 20000 --repeat 3
 *
 * Options (each also as an env var, e.g. BENCH_TASKS=5000): --only, --tasks, --enqueue-one,
 * --enqueue-bulk, --e2e-warmup, --latency, --latency-warmup, --repeat, --redis, --db-base, --timeout (s), --<system>-concurrency
 * (comma-separated), --no-docs, --no-build.
 */
import { spawnSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nodeBaselineRss, ROOT, whileAlive } from './lib/process.js';
import { SYSTEM_NAMES, systemDbs, type BenchOptions, type BenchSystem, type CpuSplit, type SystemName, type SystemResult, type WorkerRun } from './lib/types.js';
import { flushDbs, median, percentile, rate, redisClient } from './lib/util.js';
import { markdownSection, printReport, writeDocs, type Machine, type Report } from './report.js';

const FACTORIES: Record<SystemName, (o: BenchOptions) => Promise<BenchSystem>> = {
  // Imported lazily, so one system's missing dependency (or unbuilt dist/) skips only that system.
  celeriac: async (o) => (await import('./systems/celeriac.js')).createCeleriacSystem(o),
  bullmq: async (o) => (await import('./systems/bullmq.js')).createBullmqSystem(o),
  'bee-queue': async (o) => (await import('./systems/bee-queue.js')).createBeeQueueSystem(o),
  celery: async (o) => (await import('./systems/celery.js')).createCelerySystem(o),
};

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    tasks: { type: 'string' },
    'enqueue-one': { type: 'string' },
    'enqueue-bulk': { type: 'string' },
    latency: { type: 'string' },
    'latency-warmup': { type: 'string' },
    'e2e-warmup': { type: 'string' },
    repeat: { type: 'string' },
    redis: { type: 'string' },
    'db-base': { type: 'string' },
    timeout: { type: 'string' },
    ...Object.fromEntries(SYSTEM_NAMES.map((n) => [`${n}-concurrency`, { type: 'string' as const }])),
    'no-docs': { type: 'boolean' },
    'no-build': { type: 'boolean' },
  },
  strict: true,
});

/** A flag, else its env var (BENCH_ + upper snake case), else the default. */
function option(name: string): string | undefined {
  const flag = (args as Record<string, string | boolean | undefined>)[name];
  if (typeof flag === 'string') return flag;
  return process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
}

/** A whole-number option of at least `min` (1 for counts, 0 where none is allowed, as warm-ups). */
function intOption(name: string, fallback: number, min = 1): number {
  const raw = option(name);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name}: expected a whole number of at least ${min}, got ${raw}`);
  return value;
}

function parseOptions(): { options: BenchOptions; only: SystemName[] } {
  const only = (option('only') ?? SYSTEM_NAMES.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = only.filter((s) => !(SYSTEM_NAMES as readonly string[]).includes(s));
  if (unknown.length) throw new Error(`--only: unknown system(s) ${unknown.join(', ')}; known: ${SYSTEM_NAMES.join(', ')}`);
  const concurrency: BenchOptions['concurrency'] = {};
  for (const name of SYSTEM_NAMES) {
    const raw = option(`${name}-concurrency`);
    if (raw) concurrency[name] = raw.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  }
  const tasks = intOption('tasks', 20_000);
  const options: BenchOptions = {
    redis: option('redis') ?? 'redis://127.0.0.1:6379',
    dbBase: Number(option('db-base') ?? 10),
    tasks,
    enqueueOne: intOption('enqueue-one', 5_000),
    enqueueBulk: intOption('enqueue-bulk', 10_000),
    latencyCalls: intOption('latency', 500),
    latencyWarmup: intOption('latency-warmup', 5000, 0),
    // Steady state: as many tasks unmeasured as measured (see docs/benchmarks.md, round 9).
    e2eWarmup: intOption('e2e-warmup', tasks, 0),
    repeat: intOption('repeat', 1),
    timeoutMs: intOption('timeout', 120) * 1000,
    concurrency,
  };
  if (!Number.isInteger(options.dbBase) || options.dbBase < 0 || options.dbBase > 10) throw new Error('--db-base: 0..10 (the bench uses six DBs from there)');
  return { options, only: only as SystemName[] };
}

/** What one system's repeats have measured so far. */
interface SystemRuns {
  system: BenchSystem;
  enqueues: { one: number; bulk: number }[];
  runs: Map<number, WorkerRun[]>;
  failures: string[];
}

function newRuns(system: BenchSystem, o: BenchOptions): SystemRuns {
  const concurrencies = o.concurrency[system.name] ?? system.defaultConcurrency;
  return { system, enqueues: [], runs: new Map(concurrencies.map((c) => [c, []])), failures: [] };
}

/** One repeat of one system: enqueue rates, then one fresh worker per concurrency setting. */
async function benchRepeat(acc: SystemRuns, o: BenchOptions, rep: number): Promise<void> {
  const { system, enqueues, runs, failures } = acc;
  await flushDbs(o.redis, system.dbs);
  const e = await system.measureEnqueue();
  enqueues.push({ one: rate(o.enqueueOne, e.oneMs), bulk: rate(o.enqueueBulk, e.bulkMs) });
  log(`${system.label} [${rep}/${o.repeat}] enqueue: ${fmt(enqueues.at(-1)!.one)}/s one by one, ${fmt(enqueues.at(-1)!.bulk)}/s bulk`);
  for (const c of runs.keys()) {
    await flushDbs(o.redis, system.dbs);
    const worker = system.startWorker(c);
    try {
      const t = await whileAlive(worker, system.measureWithWorker(worker));
      const run: WorkerRun = {
        concurrency: c,
        e2eResults: rate(o.tasks, t.e2eResultsMs),
        e2eIgnored: rate(o.tasks, t.e2eIgnoredMs),
        p50: percentile(t.latenciesMs, 50),
        p99: percentile(t.latenciesMs, 99),
        earlyP50: t.earlyLatenciesMs?.length ? percentile(t.earlyLatenciesMs, 50) : null,
        rssBytes: worker.peakRss(system.rssWithChildren),
        cpuPerTask: t.e2eCpu ? perTask(t.e2eCpu, o.tasks) : null,
      };
      runs.get(c)!.push(run);
      log(
        `${system.label} [${rep}/${o.repeat}] -c ${c}: e2e ${fmt(run.e2eResults)}/s with results, ${fmt(run.e2eIgnored)}/s ignored; ` +
          `p50 ${run.p50.toFixed(2)} ms, p99 ${run.p99.toFixed(2)} ms; RSS ${(run.rssBytes / 2 ** 20).toFixed(1)} MB`,
      );
    } catch (err) {
      // One failed setting does not sink the others; it is reported with the results.
      const message = `-c ${c} (repeat ${rep}) failed: ${(err as Error).message}`;
      failures.push(message.split('\n')[0]!);
      log(`${system.label} ${message}`);
    } finally {
      await worker.stop();
    }
  }
}

/** The medians of a system's repeats (RSS: the highest, as it is a peak). */
function summarize(acc: SystemRuns): SystemResult {
  const { system, enqueues, runs, failures } = acc;
  const completed = [...runs.entries()].filter(([, rs]) => rs.length > 0);
  if (!completed.length) throw new Error(`every worker setting failed: ${failures.join('; ')}`);
  const merged = completed.map(([concurrency, rs]): WorkerRun => ({
    concurrency,
    e2eResults: median(rs.map((r) => r.e2eResults)),
    e2eIgnored: median(rs.map((r) => r.e2eIgnored)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    earlyP50: medianOrNull(rs.map((r) => r.earlyP50)),
    rssBytes: Math.max(...rs.map((r) => r.rssBytes)),
    cpuPerTask: medianCpu(rs.map((r) => r.cpuPerTask)),
  }));
  return {
    name: system.name,
    label: system.label,
    enqueueOne: median(enqueues.map((e) => e.one)),
    enqueueBulk: median(enqueues.map((e) => e.bulk)),
    runs: merged,
    failures,
  };
}

/** CPU split in µs per task. */
function perTask(cpu: CpuSplit, tasks: number): CpuSplit {
  const us = (ms: number) => (ms * 1000) / tasks;
  return { workerMs: us(cpu.workerMs), producerMs: us(cpu.producerMs), redisMs: us(cpu.redisMs) };
}

function medianOrNull(values: (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length ? median(known) : null;
}

function medianCpu(splits: (CpuSplit | null)[]): CpuSplit | null {
  const known = splits.filter((s): s is CpuSplit => s !== null);
  if (!known.length) return null;
  return {
    workerMs: median(known.map((s) => s.workerMs)),
    producerMs: median(known.map((s) => s.producerMs)),
    redisMs: median(known.map((s) => s.redisMs)),
  };
}

/**
 * celeriac runs from dist/ (the worker CLI and the `celeriac` import), and every Node worker from
 * dist-bench/ (the bench compiled to JavaScript), so build both first.
 */
function build(project: string): void {
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const res = spawnSync(process.execPath, [tsc, '-p', project], { cwd: ROOT, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`tsc -p ${project} failed:\n${(res.stdout + res.stderr).trim().slice(0, 2000)}`);
}

async function describeMachine(o: BenchOptions): Promise<Machine> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const redis = redisClient(o.redis, o.dbBase);
  const info = await redis.info('server').finally(() => redis.disconnect());
  const celery = spawnSync(process.env.BENCH_PYTHON ?? '/usr/bin/python3', ['-m', 'celery', '--version'], { encoding: 'utf8' });
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown CPU',
    cores: cpus().length,
    ramGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
    celery: celery.status === 0 ? celery.stdout.trim() : 'not available',
    os: `Linux ${release()}`,
    nodeBaselineBytes: await nodeBaselineRss(),
  };
}

function revision(): string {
  const git = (...a: string[]) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  const sha = git('rev-parse', '--short', 'HEAD') || 'unknown commit';
  return git('status', '--porcelain', '--', 'src') ? `${sha} plus uncommitted changes in src/` : sha;
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ')[0] ?? '?';
}

function log(line: string): void {
  console.log(`  ${line}`);
}

function fmt(v: number): string {
  return Math.round(v).toLocaleString('en-US');
}

async function main(): Promise<void> {
  const { options, only } = parseOptions();
  if (!args['no-build']) {
    build('tsconfig.build.json');
    build('tsconfig.bench.json');
  }
  const loadAtStart = loadAverage();
  const machine = await describeMachine(options);
  console.log(`bench: ${only.join(', ')}; ${machine.cpu}, ${machine.cores} cores; Redis ${machine.redis} at ${options.redis}, DBs ${options.dbBase}-${options.dbBase + 5}`);
  const results: SystemResult[] = [];
  const skipped: Report['skipped'] = [];
  const skip = async (name: SystemName, err: unknown): Promise<void> => {
    const reason = (err as Error).message;
    console.error(`  SKIPPED ${name}: ${reason}`);
    skipped.push({ name, reason });
    await flushDbs(options.redis, systemDbs(name, options.dbBase)).catch(() => undefined);
  };
  let live: SystemRuns[] = [];
  for (const name of only) {
    try {
      live.push(newRuns(await FACTORIES[name](options), options));
    } catch (err) {
      await skip(name, err);
    }
  }
  try {
    // Repeats go round the systems (every system's first repeat, then every second, ...), so a
    // machine that slows down for a while slows each system's runs alike instead of one system's.
    for (let rep = 1; rep <= options.repeat; rep++) {
      const failed = new Set<SystemRuns>();
      for (const acc of live) {
        await benchRepeat(acc, options, rep).catch(async (err: unknown) => {
          failed.add(acc);
          await skip(acc.system.name, err);
          await acc.system.close().catch(() => undefined);
        });
      }
      live = live.filter((acc) => !failed.has(acc));
    }
    for (const acc of live) {
      await flushDbs(options.redis, acc.system.dbs);
      try {
        results.push(summarize(acc));
      } catch (err) {
        await skip(acc.system.name, err);
      }
    }
  } finally {
    for (const acc of live) await acc.system.close().catch(() => undefined);
  }
  const report: Report = {
    results,
    skipped,
    machine,
    settings: `${options.tasks} tasks per e2e run after ${options.e2eWarmup} unmeasured, enqueue ${options.enqueueOne} one by one and ${options.enqueueBulk} bulk, ${options.latencyCalls} round trips after ${options.latencyWarmup} unmeasured, median of ${options.repeat} repeat(s)`,
    load: [loadAtStart, loadAverage()],
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    date: new Date().toISOString().slice(0, 10),
    revision: revision(),
  };
  printReport(report);
  if (!args['no-docs']) {
    writeDocs(join(ROOT, 'docs/benchmarks.md'), markdownSection(report));
    console.log('\nwrote docs/benchmarks.md');
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`bench: ${err.message}`);
    process.exit(1);
  },
);
