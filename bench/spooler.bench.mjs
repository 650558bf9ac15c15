// Spooler figures: ingest throughput from a child writing lines as fast as it can, against the same child's
// output redirected to a file by the shell in the same run, and the RSS of the process running the spooler
// during that burst against its idle RSS.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median } from './lib.mjs';

const MB = Number(process.env.BENCH_SPOOL_MB ?? 64);
const LINE = 100;
const LINES = Math.floor((MB * 1_000_000) / LINE);
// a writer that respects the pipe's backpressure, as a real service does
const CODE = `(async()=>{const pad='x'.repeat(${LINE - 12});let s='';for(let i=0;i<${LINES};i++){s+=String(i).padStart(10,'0')+' '+pad+'\\n';if(s.length>=65536){if(!process.stdout.write(s))await new Promise(r=>process.stdout.once('drain',r));s='';}}process.stdout.write(s);})()`;

function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function shellToFile(dir) {
  const out = join(dir, 'baseline.log');
  const t0 = performance.now();
  const r = spawnSync('sh', ['-c', `"${process.execPath}" -e "$CODE" > "${out}"`], { env: { ...process.env, CODE }, stdio: 'ignore' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error('baseline writer failed');
  return { ms, bytes: statSync(out).size };
}

async function spooled(dir) {
  const host = spawn(process.execPath, [...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : []), new URL('./spooler-host.mjs', import.meta.url).pathname, join(dir, 'spool'), CODE], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  host.stdout.on('data', (b) => (out += b.toString()));
  while (!out.includes('ready\n')) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 300));
  const idle = rssKb(host.pid);
  let peak = idle;
  const sampler = setInterval(() => {
    const v = rssKb(host.pid);
    if (v !== undefined && v > peak) peak = v;
  }, 20);
  host.stdin.write('go\n');
  await new Promise((r) => host.on('exit', r));
  clearInterval(sampler);
  const res = JSON.parse(out.split('\n').filter((l) => l.startsWith('{')).at(-1));
  if (res.lines !== LINES) throw new Error(`spooled ${res.lines} of ${LINES} lines`);
  if (res.heap_gc_forced !== undefined) process.stderr.write(`spooler bench: the heap keeper forced ${res.heap_gc_forced} GC(s) in ${Math.round(res.ms)} ms\n`);
  return { ms: res.ms, idleMb: idle / 1024, peakMb: peak / 1024 };
}

export async function run(row) {
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-spool-'));
    try {
      const base = shellToFile(dir);
      const sp = await spooled(dir);
      runs.push({ base: base.bytes / 1e6 / (base.ms / 1000), ours: (LINES * LINE) / 1e6 / (sp.ms / 1000), idle: sp.idleMb, peak: sp.peakMb });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const ours = median(runs.map((r) => r.ours));
  const base = median(runs.map((r) => r.base));
  row(`spooler ingest (${MB} MB of ${LINE}-byte lines from a child's pipe)`, ours.toFixed(1), 'MB/s', base.toFixed(1), 'MB/s shell > file', ours / base, 'ratio ≥ 0.5');
  const idle = median(runs.map((r) => r.idle));
  const peak = Math.max(...runs.map((r) => r.peak));
  row('spooler process RSS during that burst (peak)', peak.toFixed(1), 'MB', idle.toFixed(1), 'MB idle', peak / idle, 'under 30 MB above idle');
}
