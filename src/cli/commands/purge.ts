/** `celeriac purge`: delete every waiting message from the given queues. */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { appFromOptions, connect, type GlobalOptions } from '../context.js';
import { CliError } from '../errors.js';

export function registerPurge(program: Command, globals: () => GlobalOptions): void {
  program
    .command('purge')
    .description('delete all waiting messages from queues')
    .option('-Q, --queues <queues>', 'comma-separated queues (default: the default queue)')
    .option('-f, --force', 'do not ask for confirmation')
    .action(async (flags: { queues?: string; force?: boolean }) => {
      const app = await appFromOptions(globals());
      const queues = flags.queues ? flags.queues.split(',').map((q) => q.trim()).filter(Boolean) : [app.conf.taskDefaultQueue];
      await connect(app, 'broker');
      const broker = await app.connectBroker();
      if (!flags.force) {
        if (!process.stdin.isTTY) throw new CliError('purge deletes messages for good: pass -f to confirm when not on a terminal');
        const sizes = await Promise.all(queues.map((q) => broker.queueSize(q)));
        const total = sizes.reduce((a, b) => a + b, 0);
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(`Delete ${total} message(s) from ${queues.join(', ')}? [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) {
          console.log('Nothing purged.');
          await app.close();
          return;
        }
      }
      let removed = 0;
      for (const queue of queues) removed += await broker.purge(queue);
      console.log(`Purged ${removed} message(s) from ${queues.length} queue(s): ${queues.join(', ')}`);
      await app.close();
    });
}
