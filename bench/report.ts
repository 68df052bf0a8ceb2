/** The results as a console table and as a Markdown section of docs/benchmarks.md. */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import type { SystemName, SystemResult, WorkerRun } from './lib/types.js';
import { EARLY_AFTER } from './lib/util.js';

export interface Machine {
  cpu: string;
  cores: number;
  ramGb: number;
  node: string;
  redis: string;
  celery: string;
  os: string;
  /** Peak RSS of an idle Node process started like the workers (compiled JavaScript). */
  nodeBaselineBytes: number;
}

export interface Report {
  results: SystemResult[];
  skipped: { name: SystemName; reason: string }[];
  machine: Machine;
  /** The settings the run used, e.g. "20000 tasks, repeat 1". */
  settings: string;
  /** 1-minute load average at the start and the end of the run (other work on the machine skews figures). */
  load: [string, string];
  command: string;
  date: string;
  /** celeriac's commit, and whether src/ had uncommitted changes when dist/ was built. */
  revision: string;
}

type Row = string[];

/** Each figure at the worker setting where it is best; RSS at the setting with the best e2e-with-results rate. */
export interface Summary {
  e2eResults: WorkerRun;
  e2eIgnored: WorkerRun;
  /** The setting with the lowest p50 (its p99 is shown with it). */
  latency: WorkerRun;
}

export function summarize(r: SystemResult): Summary {
  const pick = (better: (a: WorkerRun, b: WorkerRun) => boolean) => r.runs.reduce((a, b) => (better(b, a) ? b : a));
  return {
    e2eResults: pick((a, b) => a.e2eResults > b.e2eResults),
    e2eIgnored: pick((a, b) => a.e2eIgnored > b.e2eIgnored),
    latency: pick((a, b) => a.p50 < b.p50),
  };
}

const fmtRate = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');
const fmtMs = (v: number) => (Number.isFinite(v) ? v.toFixed(v < 10 ? 2 : 1) : '–');
/** For the p50 target, where two figures often round to the same 0.01 ms: to the microsecond. */
const fmtMsExact = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');
const fmtMb = (bytes: number) => (bytes > 0 ? (bytes / 2 ** 20).toFixed(1) : '–');
const fmtX = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');
const at = (text: string, run: WorkerRun) => `${text} (c${run.concurrency})`;

function figureRows(results: SystemResult[]): Row[] {
  const head = ['system', 'enqueue 1-by-1/s', 'enqueue bulk/s', 'e2e results/s', 'e2e ignored/s', 'p50 ms', 'p99 ms', 'worker peak RSS MB'];
  const rows = results.map((r) => {
    const s = summarize(r);
    return [
      r.label,
      fmtRate(r.enqueueOne),
      fmtRate(r.enqueueBulk),
      at(fmtRate(s.e2eResults.e2eResults), s.e2eResults),
      at(fmtRate(s.e2eIgnored.e2eIgnored), s.e2eIgnored),
      at(fmtMs(s.latency.p50), s.latency),
      fmtMs(s.latency.p99),
      at(fmtMb(s.e2eResults.rssBytes), s.e2eResults),
    ];
  });
  return [head, ...rows];
}

function sweepRows(results: SystemResult[]): Row[] {
  const head = ['system', 'concurrency', 'e2e results/s', 'e2e ignored/s', 'p50 ms', 'p99 ms', `early p50 ms (calls ${EARLY_AFTER + 1}+)`, 'worker peak RSS MB'];
  const rows = results.flatMap((r) =>
    r.runs.map((w) => [r.label, String(w.concurrency), fmtRate(w.e2eResults), fmtRate(w.e2eIgnored), fmtMs(w.p50), fmtMs(w.p99), w.earlyP50 === null ? '–' : fmtMs(w.earlyP50), fmtMb(w.rssBytes)]),
  );
  return [head, ...rows];
}

/**
 * Where the CPU went during the e2e-with-results run at each system's best setting, per task. The
 * producer, worker and Redis share the machine's cores, so the total bounds the throughput.
 */
function cpuRows(results: SystemResult[]): Row[] {
  const head = ['system (e2e with results, best setting)', 'worker µs/task', 'producer µs/task', 'Redis µs/task', 'total µs/task'];
  const us = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '–');
  const rows = results.map((r) => {
    const run = summarize(r).e2eResults;
    const c = run.cpuPerTask;
    if (!c) return [at(r.label, run), '–', '–', '–', '–'];
    return [at(r.label, run), us(c.workerMs), us(c.producerMs), us(c.redisMs), us(c.workerMs + c.producerMs + c.redisMs)];
  });
  return [head, ...rows];
}

/** Each reads "celeriac is N× better": rates are celeriac ÷ peer, latencies peer ÷ celeriac. */
function ratioRows(results: SystemResult[]): Row[] {
  const ours = results.find((r) => r.name === 'celeriac');
  const peers = results.filter((r) => r.name !== 'celeriac');
  if (!ours || !peers.length) return [];
  const o = summarize(ours);
  const head = ['celeriac vs', 'e2e results', 'e2e ignored', 'enqueue bulk', 'enqueue 1-by-1', 'p50 (peer ÷ celeriac)', 'p99 (peer ÷ celeriac)', 'RSS (peer ÷ celeriac)'];
  return [
    head,
    ...peers.map((p) => {
      const s = summarize(p);
      return [
        p.label,
        fmtX(o.e2eResults.e2eResults / s.e2eResults.e2eResults),
        fmtX(o.e2eIgnored.e2eIgnored / s.e2eIgnored.e2eIgnored),
        fmtX(ours.enqueueBulk / p.enqueueBulk),
        fmtX(ours.enqueueOne / p.enqueueOne),
        fmtX(s.latency.p50 / o.latency.p50),
        fmtX(s.latency.p99 / o.latency.p99),
        fmtX(s.e2eResults.rssBytes / o.e2eResults.rssBytes),
      ];
    }),
  ];
}

interface Target {
  what: string;
  ok: boolean | null;
  detail: string;
}

export function targets(results: SystemResult[]): Target[] {
  const ours = results.find((r) => r.name === 'celeriac');
  const o = ours ? summarize(ours) : null;
  const out: Target[] = [];
  const throughput = (name: SystemName, label: string, factor: number) => {
    const p = results.find((r) => r.name === name);
    const ratio = o && p ? o.e2eResults.e2eResults / summarize(p).e2eResults.e2eResults : Number.NaN;
    out.push({ what: `e2e with results ≥ ${factor}× ${label}`, ok: Number.isFinite(ratio) ? ratio >= factor : null, detail: fmtX(ratio) });
  };
  throughput('bullmq', 'BullMQ best', 2);
  throughput('bee-queue', 'bee-queue best', 1.2);
  throughput('celery', 'Python Celery', 10);
  const fastest = results
    .filter((r) => r.name !== 'celeriac')
    .map((r) => ({ label: r.label, p50: summarize(r).latency.p50 }))
    .sort((a, b) => a.p50 - b.p50)[0];
  out.push({
    what: `p50 ≤ fastest peer's p50${fastest ? ` (${fastest.label})` : ''}`,
    ok: o && fastest ? o.latency.p50 <= fastest.p50 : null,
    detail: o && fastest ? `${fmtMsExact(o.latency.p50)} vs ${fmtMsExact(fastest.p50)} ms` : '–',
  });
  out.push({
    what: 'worker peak RSS < 100 MB',
    ok: o ? o.e2eResults.rssBytes < 100 * 2 ** 20 : null,
    detail: o ? `${fmtMb(o.e2eResults.rssBytes)} MB` : '–',
  });
  return out;
}

const mark = (ok: boolean | null) => (ok === null ? 'n/a' : ok ? 'PASS' : 'FAIL');

function targetRows(results: SystemResult[]): Row[] {
  return [['celeriac target', 'result', 'measured'], ...targets(results).map((t) => [t.what, mark(t.ok), t.detail])];
}

function textTable(rows: Row[]): string {
  if (!rows.length) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: Row) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function markdownTable(rows: Row[]): string {
  if (!rows.length) return '';
  const line = (r: Row) => `| ${r.join(' | ')} |`;
  const align = rows[0]!.map((_, i) => (i === 0 ? '---' : '---:'));
  return [line(rows[0]!), line(align), ...rows.slice(1).map(line)].join('\n');
}

export function printReport(report: Report): void {
  const { results, skipped } = report;
  console.log(`\n== results (${report.settings}); (cN) = the worker concurrency the figure was reached at\n`);
  console.log(textTable(figureRows(results)));
  console.log(`\n${baselineNote(report.machine)}`);
  console.log(`Load average (1 min): ${report.load[0]} at the start, ${report.load[1]} at the end.`);
  const ratios = ratioRows(results);
  if (ratios.length) console.log(`\n${textTable(ratios)}`);
  console.log(`\n${textTable(targetRows(results))}`);
  console.log(`\n== CPU per task during the e2e-with-results run\n\n${textTable(cpuRows(results))}`);
  console.log(`\n== every worker concurrency tried\n\n${textTable(sweepRows(results))}`);
  for (const r of results) for (const f of r.failures) console.log(`\nFAILED ${r.label} ${f}`);
  for (const s of skipped) console.log(`\nSKIPPED ${s.name}: ${s.reason}`);
}

export function markdownSection(report: Report): string {
  const m = report.machine;
  const parts = [
    `Measured ${report.date} with \`${report.command}\` (${report.settings}); celeriac at ${report.revision}.`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.ramGb} GB RAM, ${m.os}; Node ${m.node}; Redis ${m.redis}; Python Celery ${m.celery}.`,
    `Load average (1 min): ${report.load[0]} at the start, ${report.load[1]} at the end.`,
    '',
    'Each figure is the best over the worker concurrencies tried; (cN) is the concurrency it was reached at. ' +
      'p99 is from the same setting as p50; RSS is at the best e2e-with-results setting.',
    '',
    markdownTable(figureRows(report.results)),
    '',
    baselineNote(m),
  ];
  const ratios = ratioRows(report.results);
  if (ratios.length) parts.push('', markdownTable(ratios));
  parts.push('', markdownTable(targetRows(report.results)));
  parts.push(
    '',
    'CPU per task during the e2e-with-results run (worker process, producer process and Redis server, from /proc and `INFO cpu`; the three share the cores):',
    '',
    markdownTable(cpuRows(report.results)),
  );
  parts.push('', `Every worker concurrency tried (early p50: the same number of round trips, taken from the unmeasured warm-up after its first ${EARLY_AFTER}: before a system's code has run for long):`, '', markdownTable(sweepRows(report.results)));
  for (const r of report.results) for (const f of r.failures) parts.push('', `**${r.label} ${f}**`);
  for (const s of report.skipped) parts.push('', `**${s.name} did not run:** ${s.reason.split('\n')[0]}`);
  return parts.join('\n');
}

function baselineNote(m: Machine): string {
  return `For scale: an idle Node process peaks at ${fmtMb(m.nodeBaselineBytes)} MB RSS; every Node worker here (celeriac, BullMQ, bee-queue) runs from compiled JavaScript.`;
}

export const START = '<!-- bench:start -->';
export const END = '<!-- bench:end -->';

/** Replace the text between the markers; everything outside them is hand-written and kept. */
export function writeDocs(path: string, section: string): void {
  const body = `${START}\n${section}\n${END}`;
  const current = existsSync(path) ? readFileSync(path, 'utf8') : `# Benchmarks\n\n${START}\n${END}\n`;
  // Markers count only on a line of their own, so prose that mentions them is left alone.
  const start = current.search(new RegExp(`^${START}$`, 'm'));
  const end = current.search(new RegExp(`^${END}$`, 'm'));
  const next = start >= 0 && end > start ? current.slice(0, start) + body + current.slice(end + END.length) : `${current.trimEnd()}\n\n${body}\n`;
  writeFileSync(path, next);
}
