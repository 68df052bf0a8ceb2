/** Rewrites the generated settings table inside docs/configuration.md. */
import { readFileSync, writeFileSync } from 'node:fs';
import { BEGIN, END, renderSettingsTable } from './settings-table.js';

const path = new URL('../docs/configuration.md', import.meta.url);
const doc = readFileSync(path, 'utf8');
const start = doc.indexOf(BEGIN);
const end = doc.indexOf(END);
if (start === -1 || end === -1) throw new Error('docs/configuration.md lacks the settings-table markers');
writeFileSync(path, `${doc.slice(0, start + BEGIN.length)}\n${renderSettingsTable()}\n${doc.slice(end)}`);
