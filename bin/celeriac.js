#!/usr/bin/env node
// Thin launcher so the bin works from an installed package and from a clone after `npm install`.
// A worker caps V8's young generation (src/worker/heap-tuning.ts): hold it at its start size
// while modules load; the worker command then lets it grow to its cap (0 = V8's default).
if (process.argv.slice(2).includes('worker')) (await import('node:v8')).setFlagsFromString('--semi-space-growth-factor=1');
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  process.stderr.write(`celeriac: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});
