// Side-by-side RSS of the dev-profile daemon under V8 flag sets (docs/footprint.md, "V8 flags"): one daemon
// per flag set, all started together on their own roots and sampled every second, so they share the same
// machine load. Not a test, and not part of `npm run bench` (it runs several daemons at once).
//
//   node bench/v8-flags.mjs [--seconds N] [--set "FLAGS"]...    (default: the sets below, 120 s)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { median } from './lib.mjs';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, set: { type: 'string', multiple: true } } });
const SECONDS = Number(values.seconds ?? 120);
const SETS = values.set ?? ['', '--max-semi-space-size=1', '--max-semi-space-size=2', '--optimize-for-size', '--max-semi-space-size=1 --optimize-for-size', '--max-old-space-size=64 --max-semi-space-size=1'];
const WAVEOS = fileURLToPath(new URL('../bin/waveos.js', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1000;
  } catch {
    return undefined;
  }
}

const runs = SETS.map((flags) => {
  const root = mkdtempSync(join(tmpdir(), 'bench-v8-'));
  const child = spawn(process.execPath, [...flags.split(' ').filter(Boolean), WAVEOS, 'run', '--root', root, '--profile', 'dev', '--log-format', 'json'], { stdio: 'ignore' });
  return { flags, root, child, samples: [] };
});
const t0 = Date.now();
while (Date.now() - t0 < SECONDS * 1000) {
  await sleep(1000);
  for (const r of runs) {
    const v = rssMb(r.child.pid);
    if (v !== undefined) r.samples.push(v);
  }
}
for (const r of runs) r.child.kill('SIGTERM');
await sleep(3000);
const out = runs.map((r) => {
  const tail = r.samples.slice(-Math.max(10, Math.floor(r.samples.length / 3)));
  return { flags: r.flags || '(none)', steady_mb: +median(tail).toFixed(1), max_mb: +Math.max(...r.samples).toFixed(1), samples: r.samples.length };
});
for (const r of runs) rmSync(r.root, { recursive: true, force: true });
console.log(`| flags | steady RSS MB (median of the last third of ${SECONDS} s) | max RSS MB |`);
console.log('|---|---|---|');
for (const o of out) console.log(`| \`${o.flags}\` | ${o.steady_mb} | ${o.max_mb} |`);
