/** `celeriac worker`: run a worker until SIGTERM/SIGINT (warm shutdown); a second signal is cold. */
import type { Command } from 'commander';
import type { ConfigInput } from '../../app/config.js';
import { CliError } from '../errors.js';
import { capYoungGeneration, collectStartupGarbage, setHeapGrowthPercent } from '../../worker/heap-tuning.js';
import { appFromOptions, connect, parseNumber, type GlobalOptions } from '../context.js';
import { resolveAppModule } from '../load-app.js';

interface WorkerFlags {
  queues?: string;
  concurrency?: string;
  hostname?: string;
  loglevel?: string;
  prefetchMultiplier?: string;
  pool?: string;
  maxTasksPerChild?: string;
  maxMemoryPerChild?: string;
  timeLimit?: string;
  softTimeLimit?: string;
  softShutdownTimeout?: string;
  withoutRateLimits?: boolean;
  disablePrefetch?: boolean;
  maxYoungGenerationMb?: string;
  heapGrowthPercent?: string;
}

/** Worker flags that are settings, so pool threads and processes get them too. */
function settingsFromFlags(flags: WorkerFlags): ConfigInput {
  const out: ConfigInput = {};
  if (flags.pool !== undefined) out.workerPool = flags.pool as ConfigInput['workerPool'];
  const n = (flag: string, text: string | undefined, integer = false) => parseNumber(flag, text, { integer, min: integer ? 1 : 0 });
  if (flags.maxTasksPerChild !== undefined) out.workerMaxTasksPerChild = n('--max-tasks-per-child', flags.maxTasksPerChild, true);
  if (flags.maxMemoryPerChild !== undefined) out.workerMaxMemoryPerChild = n('--max-memory-per-child', flags.maxMemoryPerChild, true);
  if (flags.timeLimit !== undefined) out.taskTimeLimit = n('--time-limit', flags.timeLimit);
  if (flags.softTimeLimit !== undefined) out.taskSoftTimeLimit = n('--soft-time-limit', flags.softTimeLimit);
  if (flags.softShutdownTimeout !== undefined) out.workerSoftShutdownTimeout = n('--soft-shutdown-timeout', flags.softShutdownTimeout);
  if (flags.withoutRateLimits) out.workerDisableRateLimits = true;
  if (flags.disablePrefetch) out.workerDisablePrefetch = true;
  return out;
}

export function registerWorker(program: Command, globals: () => GlobalOptions): void {
  program
    .command('worker')
    .description('start a worker')
    .option('-Q, --queues <queues>', 'comma-separated queues to consume')
    .option('-c, --concurrency <n>', 'tasks run at once')
    .option('-n, --hostname <name>', 'node name, e.g. w1@%h')
    .option('-l, --loglevel <level>', 'log level: debug, info, warning, error')
    .option('--prefetch-multiplier <n>', 'messages reserved per concurrency slot (0 = unlimited)')
    .option('-P, --pool <kind>', "where tasks run: async (default), threads or processes (Celery's prefork and solo are accepted)")
    .option('--max-tasks-per-child <n>', 'replace a pool thread/process after this many tasks')
    .option('--max-memory-per-child <KiB>', 'replace a pool process over this resident memory, after its task')
    .option('--time-limit <seconds>', 'hard time limit for every task')
    .option('--soft-time-limit <seconds>', 'soft time limit for every task')
    .option('--soft-shutdown-timeout <seconds>', 'on warm shutdown, let running tasks go on this long, then stop them')
    .option('--without-rate-limits', 'ignore every rate limit')
    .option('--disable-prefetch', 'take a message only when a slot is free')
    .option('--max-young-generation-mb <n>', "cap on V8's young generation in MB (0 = V8's default; default from workerMaxYoungGenerationMb, 8)")
    .option('--heap-growth-percent <n>', "old generation growth between full GCs, percent of the live heap (0 = V8's default; default from workerHeapGrowthPercent, 50)")
    .action(async (flags: WorkerFlags) => {
      const g = globals();
      const app = await appFromOptions({ ...g, loglevel: flags.loglevel ?? g.loglevel }, settingsFromFlags(flags));
      const pool = app.conf.workerPool;
      if (pool !== 'async' && !g.app) throw new CliError(`-P ${pool} needs -A: each pool ${pool === 'threads' ? 'thread' : 'process'} loads the app module`);
      const worker = app.worker({
        appModule: g.app ? resolveAppModule(g.app) : undefined,
        queues: flags.queues?.split(',').map((q) => q.trim()).filter(Boolean),
        concurrency: parseNumber('--concurrency', flags.concurrency, { integer: true, min: 1 }),
        prefetchMultiplier: parseNumber('--prefetch-multiplier', flags.prefetchMultiplier, { integer: true }),
        hostname: flags.hostname?.replace('%h', (await import('node:os')).hostname()),
      });
      // This process is the worker's own, so it may tune V8 for it (see heap-tuning.ts).
      capYoungGeneration(parseNumber('--max-young-generation-mb', flags.maxYoungGenerationMb, { min: 0 }) ?? app.conf.workerMaxYoungGenerationMb);
      setHeapGrowthPercent(parseNumber('--heap-growth-percent', flags.heapGrowthPercent, { integer: true, min: 0 }) ?? app.conf.workerHeapGrowthPercent);
      await connect(app);
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals++;
        if (signal === 'SIGQUIT' || signals > 1) {
          app.log.warn({ signal }, 'cold shutdown');
          void worker.terminate().finally(() => app.close().finally(() => process.exit(1)));
          return;
        }
        app.log.info({ signal }, 'warm shutdown: finishing active tasks (send again for cold shutdown)');
        void worker.close().then(
          () => app.close().then(() => process.exit(0)),
          () => process.exit(1),
        );
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      process.on('SIGQUIT', onSignal);
      collectStartupGarbage();
      await worker.start();
      await new Promise<never>(() => undefined);
    });
}
