/** The `celeriac` command line, shaped like Celery's: `celeriac -A <module> <command> [options]`. */
import { Command, CommanderError } from 'commander';
import { registerCall } from './commands/call.js';
import { registerPurge } from './commands/purge.js';
import { registerResult } from './commands/result.js';
import { registerWorker } from './commands/worker.js';
import type { GlobalOptions } from './context.js';
import { describeError } from './errors.js';
import { VERSION } from '../version.js';

export function buildProgram(): Command {
  const program = new Command('celeriac')
    .description('A distributed task queue for TypeScript that speaks Celery\'s wire protocol')
    .version(VERSION)
    .option('-A, --app <module>', 'app module: a .ts or .js file exporting the Celery app (default export or `app`)')
    .option('-b, --broker <url>', 'broker URL (overrides CELERIAC_BROKER_URL)')
    .option('--result-backend <url>', 'result backend URL (overrides CELERIAC_RESULT_BACKEND)')
    .option('-l, --loglevel <level>', 'log level')
    .showHelpAfterError()
    .exitOverride();
  const globals = () => program.opts<GlobalOptions>();
  registerWorker(program, globals);
  registerCall(program, globals);
  registerResult(program, globals);
  registerPurge(program, globals);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message (unknown command, missing argument, --help).
      process.exit(err.exitCode);
    }
    console.error(`celeriac: error: ${describeError(err)}`);
    process.exit(1);
  }
}
