/** `celeriac result <id>`: print a task's result (or its state while it is not ready). */
import type { Command } from 'commander';
import type { AsyncResult } from '../../app/result.js';
import { TimeoutError } from '../../errors.js';
import { appFromOptions, connect, parseNumber, type GlobalOptions } from '../context.js';
import { CliError, describeError } from '../errors.js';

export function registerResult(program: Command, globals: () => GlobalOptions): void {
  program
    .command('result <id>')
    .description("print a task's result")
    .option('--wait', 'wait until the task is ready')
    .option('--timeout <seconds>', 'with --wait: give up after this many seconds')
    .action(async (id: string, flags: { wait?: boolean; timeout?: string }) => {
      const timeout = parseNumber('--timeout', flags.timeout);
      const app = await appFromOptions(globals());
      if (!app.conf.resultBackend) throw new CliError('no result backend is configured (result_backend is null)');
      await connect(app, 'backend');
      const result = app.AsyncResult(id);
      if (!flags.wait && !(await result.ready())) {
        console.log(await result.state);
        await app.close();
        return;
      }
      process.exitCode = await printResult(result, timeout);
      await app.close();
    });
}

/** Print a ready result's value as JSON; a failure goes to stderr with exit code 1, a timeout 2. */
export async function printResult(result: AsyncResult, timeoutSeconds: number | undefined): Promise<number> {
  try {
    const value = await result.get({ timeout: timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000 });
    console.log(JSON.stringify(value));
    return 0;
  } catch (err) {
    if (err instanceof TimeoutError) {
      console.error(`celeriac: error: timed out waiting for task ${result.id} (state ${await result.state})`);
      return 2;
    }
    console.error(`celeriac: error: ${describeError(err)}`);
    return 1;
  }
}
