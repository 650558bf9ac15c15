// Writes the table of event kinds in docs/events.md from the catalogue (daemon/journal/event-kinds.ts), as built
// into dist/: run `npm run build --silent && node scripts/event-kinds-doc.mjs`. The journal's unit test fails
// while the two differ.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { withEventKindsTable } from '../dist/journal/index.js';

const file = new URL('../docs/events.md', import.meta.url);
const doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Event kinds\n';
const next = withEventKindsTable(doc);
if (next === doc) console.log('docs/events.md is up to date');
else {
  writeFileSync(file, next);
  console.log('docs/events.md: table of event kinds rewritten');
}
