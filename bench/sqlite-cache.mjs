// What SQLite's page cache and memory map cost and buy on a real journal (docs/footprint.md, "SQLite"): for
// each cache_size / mmap_size pair, a fresh node opens a copy of the journal, reads every event and metric
// row twice (an hour's export reads that much) and reports the RSS it grew by and the time of the second
// pass. Not a test, not part of `npm run bench` (it needs a journal that has run for a while):
//
//   node bench/sqlite-cache.mjs JOURNAL.db
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const db = process.argv[2];
if (!db) {
  process.stderr.write('usage: node bench/sqlite-cache.mjs JOURNAL.db\n');
  process.exit(2);
}
const sqlite = createRequire(fileURLToPath(new URL('../package.json', import.meta.url))).resolve('better-sqlite3');

function probe(cache, mmap) {
  const code = `
    const D = require(${JSON.stringify(sqlite)});
    const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status','utf8'))[1]) / 1000;
    const db = new D(${JSON.stringify(db)}, { readonly: true });
    db.pragma('cache_size = ${cache}');
    db.pragma('mmap_size = ${mmap}');
    const scan = () => { let n = 0; for (const t of ['events', 'metrics', 'metrics_1m']) for (const r of db.prepare('SELECT * FROM ' + t).iterate()) n++; return n; };
    const before = rss();
    scan();
    const t = process.hrtime.bigint();
    const rows = scan();
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    process.stdout.write(JSON.stringify({ grew: rss() - before, ms, rows }));`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

console.log('| cache_size | mmap_size | RSS grown MB | second pass ms | rows |');
console.log('|---|---|---|---|---|');
for (const [cache, mmap] of [[-16000, 0], [-16000, 268435456], [-2000, 0], [-1024, 0], [-512, 0], [-256, 0]]) {
  const runs = [probe(cache, mmap), probe(cache, mmap), probe(cache, mmap)].sort((a, b) => a.grew - b.grew);
  const m = runs[1];
  console.log(`| ${cache} | ${mmap} | ${m.grew.toFixed(1)} | ${m.ms.toFixed(0)} | ${m.rows} |`);
}
