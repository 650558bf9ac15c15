// Side-by-side RSS of the dev-profile daemon under V8 flag sets (docs/footprint.md, "V8 flags"): one daemon
// per flag set, all started together on their own roots and sampled every second, so they share the same
// machine load. Not a test, and not part of `npm run bench` (it runs several daemons at once).
//
//   node bench/v8-flags.mjs [--seconds N] [--unit-env] [--json FILE] [--set "FLAGS"]...    (default: the sets below, 120 s)
//
// A set's words are node flags (`--max-semi-space-size=1`), environment variables for that daemon
// (`WAVEOS_HEAP_GROWING_PERCENT=20`), or `config=FILE` (the daemon's `--config`, e.g. a `recovery.heap_keeper`
// setting; the dev profile still supervises its example services when the file names none). `--unit-env` gives
// every daemon systemd/waveos.service's `NODE_OPTIONS=--max-semi-space-size=1 MALLOC_ARENA_MAX=2`. Besides RSS,
// each row has the daemon's CPU (utime + stime) per minute over the last third, and, where the daemon answers,
// its heap keeper's counters at the end (`daemon_heap_gc_forced_total`).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { median } from './lib.mjs';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, set: { type: 'string', multiple: true }, 'unit-env': { type: 'boolean' }, json: { type: 'string' } } });
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

const UNIT_ENV = values['unit-env'] ? { NODE_OPTIONS: '--max-semi-space-size=1', MALLOC_ARENA_MAX: '2' } : {};
const TICK_S = 1 / 100; // USER_HZ

/** utime + stime of a process, in seconds. */
function cpuS(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_S;
  } catch {
    return undefined;
  }
}

function parseSet(set) {
  const flags = [];
  const env = {};
  const extra = [];
  for (const w of set.split(' ').filter(Boolean)) {
    if (w.startsWith('config=')) extra.push('--config', w.slice('config='.length));
    else if (/^[A-Z_][A-Z0-9_]*=/.test(w)) env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
    else flags.push(w);
  }
  return { flags, env, extra };
}

function forcedGcs(root) {
  const r = spawnSync(process.execPath, [WAVEOS, 'metrics', '--json', '--root', root], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) return undefined;
  const list = JSON.parse(r.stdout).metrics;
  const v = (name) => list.find((m) => m.name === name)?.value;
  return { forced: v('daemon_heap_gc_forced_total'), freed_mb: v('daemon_heap_gc_forced_freed_bytes_total') === undefined ? undefined : +(v('daemon_heap_gc_forced_freed_bytes_total') / 1e6).toFixed(1) };
}

const runs = SETS.map((set) => {
  const root = mkdtempSync(join(tmpdir(), 'bench-v8-'));
  const { flags, env, extra } = parseSet(set);
  const child = spawn(process.execPath, [...flags, WAVEOS, 'run', '--root', root, '--profile', 'dev', '--log-format', 'json', ...extra], { stdio: 'ignore', env: { ...process.env, ...UNIT_ENV, ...env } });
  return { set, root, child, samples: [], cpu: [] };
});
const t0 = Date.now();
while (Date.now() - t0 < SECONDS * 1000) {
  await sleep(1000);
  for (const r of runs) {
    const v = rssMb(r.child.pid);
    if (v !== undefined) r.samples.push(v);
    r.cpu.push([Date.now(), cpuS(r.child.pid)]);
  }
}
const counters = runs.map((r) => forcedGcs(r.root));
for (const r of runs) r.child.kill('SIGTERM');
await sleep(3000);
const out = runs.map((r, i) => {
  const third = Math.max(10, Math.floor(r.samples.length / 3));
  const tail = r.samples.slice(-third);
  const cpu = r.cpu.slice(-third).filter((c) => c[1] !== undefined);
  const first = cpu[0];
  const last = cpu.at(-1);
  const cpuPerMin = first && last && last[0] > first[0] ? ((last[1] - first[1]) / (last[0] - first[0])) * 60_000 : undefined;
  return {
    set: r.set || '(none)',
    steady_mb: +median(tail).toFixed(1),
    max_mb: +Math.max(...r.samples).toFixed(1),
    max_last_third_mb: +Math.max(...tail).toFixed(1),
    cpu_s_per_min: cpuPerMin === undefined ? undefined : +cpuPerMin.toFixed(3),
    ...counters[i],
    samples: r.samples.length,
    rss_mb: r.samples,
  };
});
for (const r of runs) rmSync(r.root, { recursive: true, force: true });
if (values.json) writeFileSync(values.json, JSON.stringify({ seconds: SECONDS, unit_env: UNIT_ENV, runs: out }, null, 1));
console.log(`| set | steady RSS MB (median of the last third of ${SECONDS} s) | max RSS MB (all / last third) | CPU s/min (last third) | forced GCs (MB freed) |`);
console.log('|---|---|---|---|---|');
for (const o of out) console.log(`| \`${o.set}\` | ${o.steady_mb} | ${o.max_mb} / ${o.max_last_third_mb} | ${o.cpu_s_per_min ?? '-'} | ${o.forced ?? '-'} (${o.freed_mb ?? '-'}) |`);
