/** `celeriac call`: send a task by name; with `--wait`, print its result (non-zero exit if it failed). */
import type { Command } from 'commander';
import { parseIsoDate } from '../../protocol/message.js';
import { appFromOptions, connect, parseJson, parseNumber, type GlobalOptions } from '../context.js';
import { CliError } from '../errors.js';
import { printResult } from './result.js';

interface CallFlags {
  args?: string;
  kwargs?: string;
  countdown?: string;
  eta?: string;
  expires?: string;
  queue?: string;
  wait?: boolean;
  timeout?: string;
}

export function registerCall(program: Command, globals: () => GlobalOptions): void {
  program
    .command('call <task>')
    .description('send a task by name and print its id')
    .option('--args <json>', 'positional arguments as a JSON array', undefined)
    .option('--kwargs <json>', 'keyword arguments as a JSON object', undefined)
    .option('--countdown <seconds>', 'run no earlier than this many seconds from now')
    .option('--eta <iso>', 'run no earlier than this ISO-8601 time')
    .option('--expires <seconds>', 'revoke if not started within this many seconds')
    .option('--queue <queue>', 'queue to send to')
    .option('--wait', 'wait for the result and print it')
    .option('--timeout <seconds>', 'with --wait: give up after this many seconds')
    .action(async (taskName: string, flags: CallFlags) => {
      const g = globals();
      const args = parseJson('--args', flags.args, 'array') as unknown[];
      const kwargs = parseJson('--kwargs', flags.kwargs, 'object') as Record<string, unknown>;
      const countdown = parseNumber('--countdown', flags.countdown);
      const expires = parseNumber('--expires', flags.expires);
      const timeout = parseNumber('--timeout', flags.timeout);
      let eta: Date | undefined;
      if (flags.eta !== undefined) {
        const parsed = parseIsoDate(flags.eta);
        if (Number.isNaN(parsed.getTime())) throw new CliError(`--eta: not an ISO-8601 time: '${flags.eta}'`);
        eta = parsed;
      }
      const app = await appFromOptions(g);
      if (g.app && !app.getTask(taskName)) {
        const known = app.taskNames;
        throw new CliError(`unknown task '${taskName}' in ${g.app}; registered tasks: ${known.length ? known.join(', ') : '(none)'}`);
      }
      await connect(app);
      const result = await app.sendTask(taskName, args, kwargs, { countdown, eta, expires, queue: flags.queue });
      if (!flags.wait) {
        console.log(result.id);
        await app.close();
        return;
      }
      console.error(result.id);
      const code = await printResult(result, timeout);
      await app.close();
      process.exitCode = code;
    });
}
