#!/usr/bin/env node
// Thin launcher so the bin works from an installed package and from a clone after `npm install`.
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  process.stderr.write(`celeriac: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});
