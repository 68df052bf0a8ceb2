/**
 * `npm run soak`: the worker's resident memory across a long run (issue 5: "stays flat across a
 * 100,000-task soak"). One `celeriac worker` process on Redis runs no-op tasks with results stored,
 * sent in waves; after each wave its RSS is read from /proc. Prints the series and, unless
 * `--no-docs`, writes it to docs/benchmarks.md between the soak markers.
 *
 *   npm run soak -- --tasks 100000 --wave 5000 --concurrency 64 --redis redis://127.0.0.1:6379 --db 10
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { ROOT, spawnWorker, vmHwm } from './lib/process.js';
import { waitFor } from './lib/util.js';

const { values: flags } = parseArgs({
  options: {
    tasks: { type: 'string', default: '100000' },
    wave: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '64' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    db: { type: 'string', default: '10' },
    'no-docs': { type: 'boolean', default: false },
  },
});
const TASKS = Number(flags.tasks);
const WAVE = Number(flags.wave);
const brokerDb = Number(flags.db);
const backendDb = brokerDb + 1;
const url = (db: number) => `${flags.redis}/${db}`;

function vmRss(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

async function main(): Promise<void> {
  for (const db of [brokerDb, backendDb]) {
    const client = new Redis(url(db));
    await client.flushdb();
    client.disconnect();
  }
  const env = { BENCH_BROKER_URL: url(brokerDb), BENCH_BACKEND_URL: url(backendDb), BENCH_COUNTER_URL: url(brokerDb) };
  Object.assign(process.env, env);
  const { app, noop } = await import('./celeriac-tasks.js');
  app.configure({ logLevel: 'warning', resultExpires: 600 });
  const worker = spawnWorker(
    process.execPath,
    ['bin/celeriac.js', '-A', 'bench/celeriac-tasks.ts', 'worker', '-c', flags.concurrency, '-l', 'warning', '-b', env.BENCH_BROKER_URL, '--result-backend', env.BENCH_BACKEND_URL],
    env,
  );
  const backend = new Redis(url(backendDb));
  const samples: { done: number; rss: number }[] = [];
  const started = Date.now();
  try {
    await (await noop.delay()).get({ timeout: 60_000 });
    samples.push({ done: 0, rss: vmRss(worker.pid) });
    let sent = 0;
    while (sent < TASKS) {
      const n = Math.min(WAVE, TASKS - sent);
      for (let i = 0; i < n; i += 1000) await noop.delayMany(Array.from({ length: Math.min(1000, n - i) }, () => [] as []));
      sent += n;
      // +1: the warm-up call's result is there too.
      await waitFor(async () => (worker.assertAlive(), (await backend.dbsize()) >= sent + 1), 300_000, `results of ${sent} tasks`);
      samples.push({ done: sent, rss: vmRss(worker.pid) });
      process.stdout.write(`  ${sent.toLocaleString('en-US')} tasks: worker RSS ${mb(samples.at(-1)!.rss)} MB\n`);
    }
  } finally {
    const peak = vmHwm(worker.pid);
    await worker.stop();
    backend.disconnect();
    await app.close();
    report(samples, peak, Date.now() - started);
  }
}

function report(samples: { done: number; rss: number }[], peak: number, ms: number): void {
  // V8 grows its heap to a working size first; the second half shows whether memory still grows.
  const half = samples.find((s) => s.done >= TASKS / 2) ?? samples[0]!;
  const last = samples.at(-1)!;
  const growth = last.rss - half.rss;
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run soak -- --tasks ${TASKS} --wave ${WAVE} --concurrency ${flags.concurrency}\` on ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GB RAM, Node ${process.version}; load average ${loadavg()[0]!.toFixed(2)} at the end; ${(TASKS / (ms / 1000)).toFixed(0)} tasks/s overall.`,
    '',
    `One \`celeriac -A bench/celeriac-tasks.ts worker -c ${flags.concurrency}\` process (async pool; the \`.ts\` module loaded through tsx) on Redis, no-op tasks with results stored, sent in waves of ${WAVE}; RSS read from /proc after each wave.`,
    '',
    '| tasks done | worker RSS MB |',
    '| ---: | ---: |',
    ...samples.map((s) => `| ${s.done.toLocaleString('en-US')} | ${mb(s.rss)} |`),
    '',
    `RSS at ${half.done.toLocaleString('en-US')} tasks: ${mb(half.rss)} MB; at ${last.done.toLocaleString('en-US')}: ${mb(last.rss)} MB (${growth >= 0 ? '+' : ''}${mb(growth)} MB over the second half). Peak (VmHWM): ${mb(peak)} MB.`,
  ];
  const text = lines.join('\n');
  process.stdout.write(`\n${text}\n`);
  if (flags['no-docs']) return;
  const path = join(ROOT, 'docs', 'benchmarks.md');
  const doc = readFileSync(path, 'utf8');
  const start = '<!-- soak:start -->';
  const end = '<!-- soak:end -->';
  const block = `${start}\n${text}\n${end}`;
  const next = doc.includes(start) ? doc.replace(new RegExp(`${start}[\\s\\S]*?${end}`), block) : `${doc.trimEnd()}\n\n## Soak: worker memory over 100,000 tasks\n\n${block}\n`;
  writeFileSync(path, next);
}

await main();
