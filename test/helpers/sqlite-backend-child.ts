/**
 * A separate process writing one result through the SQLite result backend:
 * `node --import tsx test/helpers/sqlite-backend-child.ts <url> <task id> <status> <json result>`.
 */
import { createResultBackend } from '../../src/backends/index.js';

const [url, taskId, status, result] = process.argv.slice(2);

async function main(): Promise<void> {
  if (!url || !taskId || !status) throw new Error('usage: <url> <task id> <status> [json result]');
  const backend = createResultBackend(url);
  await backend.storeResult({
    status,
    result: JSON.parse(result ?? 'null') as unknown,
    traceback: null,
    children: [],
    date_done: new Date().toISOString(),
    task_id: taskId,
  });
  await backend.close();
  process.stdout.write(`${JSON.stringify({ event: 'stored' })}\n`);
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ event: 'fatal', error: String(err) })}\n`);
  process.exit(1);
});
