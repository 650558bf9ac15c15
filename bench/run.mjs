// `npm run bench [-- NAME...]`: runs bench/*.bench.mjs (or the ones named) and prints one table of figures
// with ratios against baselines measured in the same run. Not a test: nothing passes or fails on time.
import { readdirSync } from 'node:fs';

const wanted = process.argv.slice(2);
const files = readdirSync(new URL('.', import.meta.url))
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.bench\.mjs$/, '')))
  .sort();

const rows = [];
const row = (name, value, unit, baseline, baselineUnit, ratio, aim) => rows.push({ name, value, unit, baseline, baselineUnit, ratio, aim });
for (const f of files) {
  process.stderr.write(`bench: ${f}\n`);
  const mod = await import(new URL(f, import.meta.url).href);
  await mod.run(row);
}

const w = [56, 12, 10, 14, 22, 7, 30];
const line = (cells) => cells.map((c, i) => String(c).padEnd(w[i])).join(' ');
console.log(line(['figure', 'value', 'unit', 'baseline', 'baseline unit', 'ratio', 'aim']));
console.log(line(w.map((n) => '-'.repeat(n))));
for (const r of rows) console.log(line([r.name, r.value, r.unit, r.baseline ?? '', r.baselineUnit ?? '', typeof r.ratio === 'number' ? r.ratio.toFixed(2) : '', r.aim ?? '']));
