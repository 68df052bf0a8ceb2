/** `celeriac worker`: run a worker until SIGTERM/SIGINT (warm shutdown); a second signal is cold. */
import type { Command } from 'commander';
import { capYoungGeneration, setHeapGrowthPercent } from '../../worker/heap-tuning.js';
import { appFromOptions, connect, parseNumber, type GlobalOptions } from '../context.js';

interface WorkerFlags {
  queues?: string;
  concurrency?: string;
  hostname?: string;
  loglevel?: string;
  prefetchMultiplier?: string;
  maxYoungGenerationMb?: string;
  heapGrowthPercent?: string;
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
    .option('--max-young-generation-mb <n>', "cap on V8's young generation in MB (0 = V8's default; default from workerMaxYoungGenerationMb, 4)")
    .option('--heap-growth-percent <n>', "old generation growth between full GCs, percent of the live heap (0 = V8's default; default from workerHeapGrowthPercent, 50)")
    .action(async (flags: WorkerFlags) => {
      const g = globals();
      const app = await appFromOptions({ ...g, loglevel: flags.loglevel ?? g.loglevel });
      const worker = app.worker({
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
      await worker.start();
      await new Promise<never>(() => undefined);
    });
}
