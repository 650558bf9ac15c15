// Foundation figures: journal group commit against raw SQLite inserts, and daemon start-up time.
// BENCH_FOUNDATION_BEFORE=DIR runs the journal figure also on another build (a checkout with dist/ built), its
// runs alternating with this build's in the same run; BENCH_FOUNDATION_STARTUP=0 leaves the start-up figure out.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { median } from './lib.mjs';

const HERE = resolve(new URL('..', import.meta.url).pathname);
const BEFORE = process.env.BENCH_FOUNDATION_BEFORE ? resolve(process.env.BENCH_FOUNDATION_BEFORE) : undefined;

/** A build's journal, clock and redactor (the daemon's journal redacts every event before hashing it; older builds had no redactor). */
async function journalOf(tree) {
  const at = (p) => import(pathToFileURL(join(tree, p)).href);
  const { Journal } = await at('dist/journal/index.js');
  const { systemClock } = await at('dist/core/index.js');
  const security = await at('dist/security/index.js');
  const redactor = security.Redactor ? new security.Redactor({ literals: ['bench-secret-value-0123456789'] }) : undefined;
  return { Journal, systemClock, redactor };
}

// --- journal appends with group commit vs raw better-sqlite3 inserts of the same rows -----------------
function benchJournal({ Journal, systemClock, redactor }, n, batch) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-journal-'));
  try {
    const j = Journal.openWriter(join(dir, 'j.db'), { clock: systemClock, runId: 'bench', bootId: 'bench', batchMax: batch, batchDelayMs: 1000, redactor });
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) j.append({ kind: 'bench.tick', source: 'bench', reason: 'a benchmark event', data: { i, load: 0.5 } });
    j.flush();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const stored = j.events({ afterSeq: 0 });
    j.close();

    // The raw baseline: the same table, the same rows (hashes and JSON precomputed), the same batch size and sync mode.
    const db = new Database(join(dir, 'j.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('DELETE FROM events');
    const ins = db.prepare(
      'INSERT INTO events (seq, ts, mono_ms, run_id, boot_id, kind, severity, source, reason, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
    );
    const prepared = stored.map((e) => [
      e.seq,
      e.ts,
      e.mono_ms,
      e.run_id,
      e.boot_id,
      e.kind,
      e.severity,
      e.source,
      e.reason,
      JSON.stringify(e.data),
      e.prev_hash,
      e.hash,
    ]);
    const tx = db.transaction((chunk) => {
      for (const r of chunk) ins.run(...r);
    });
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    for (let i = 0; i < prepared.length; i += batch) tx(prepared.slice(i, i + batch));
    const rawMs = performance.now() - t1;
    const rawCpu = process.cpuUsage(c1);
    db.close();
    // CPU time per event (user + system, this process): the work each side does, whatever the fsyncs wait for.
    const us = (c) => (c.user + c.system) / n;
    return { ours: (n / ms) * 1000, raw: (n / rawMs) * 1000, oursCpuUs: us(cpu), rawCpuUs: us(rawCpu) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- start-up: exec to `status` answering on the socket, vs a bare `node -e` -------------------------
function statusAnswers(socketPath) {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/v1/status', method: 'GET', timeout: 200 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

async function startupOnce() {
  const root = mkdtempSync(join(tmpdir(), 'bench-start-'));
  const t0 = performance.now();
  const child = spawn(process.execPath, ['bin/waveos.js', 'run', '--root', root, '--log-format', 'json'], { stdio: 'ignore' });
  const socketPath = join(root, 'run/waveos/waveos.sock');
  let ms = Number.NaN;
  for (let i = 0; i < 2000; i++) {
    if (await statusAnswers(socketPath)) {
      ms = performance.now() - t0;
      break;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
  rmSync(root, { recursive: true, force: true });
  return ms;
}

function bareNodeOnce() {
  const t0 = performance.now();
  spawnSync(process.execPath, ['-e', '0']);
  return performance.now() - t0;
}

export async function run(row) {
  const N = Number(process.env.BENCH_EVENTS ?? 100_000);
  const runs = Number(process.env.BENCH_FOUNDATION_RUNS ?? 3);
  const here = await journalOf(HERE);
  const before = BEFORE ? await journalOf(BEFORE) : undefined;
  const jr = [];
  const jb = [];
  for (let i = 0; i < runs; i++) {
    jr.push(benchJournal(here, N, 256));
    if (before) jb.push(benchJournal(before, N, 256));
  }
  // Each run's ratio is against the raw inserts of that same run (the load changes from run to run).
  const each = (rs) => rs.map((r) => (r.ours / r.raw).toFixed(2)).join(' ');
  const ours = median(jr.map((r) => r.ours));
  const raw = median(jr.map((r) => r.raw));
  row(
    `journal appends (${N} events, batch 256, fsync per batch); per run ${each(jr)}`,
    Math.round(ours),
    'events/s',
    Math.round(raw),
    'raw inserts/s',
    median(jr.map((r) => r.ours / r.raw)),
    'ratio ≥ 0.7 and ≥ 20,000/s',
  );
  // The wall-clock ratio is mostly the disk's fsync latency, which varies a lot from run to run on a shared
  // machine; the CPU per event is what the journal's own work costs next to the raw inserts.
  const cpuRow = (label, rs) =>
    row(
      `${label}: CPU per event (user + system); per run ${rs.map((r) => (r.rawCpuUs / r.oursCpuUs).toFixed(2)).join(' ')}`,
      median(rs.map((r) => r.oursCpuUs)).toFixed(2),
      'µs/event',
      median(rs.map((r) => r.rawCpuUs)).toFixed(2),
      'µs/event raw inserts',
      median(rs.map((r) => r.rawCpuUs / r.oursCpuUs)),
      'raw/ours',
    );
  cpuRow('journal appends', jr);
  if (before) cpuRow('journal appends, baseline build', jb);
  if (before) {
    row(
      `journal appends, baseline build (BENCH_FOUNDATION_BEFORE); per run ${each(jb)}`,
      Math.round(median(jb.map((r) => r.ours))),
      'events/s',
      Math.round(median(jb.map((r) => r.raw))),
      'raw inserts/s',
      median(jb.map((r) => r.ours / r.raw)),
      '',
    );
  }
  if (process.env.BENCH_FOUNDATION_STARTUP === '0') return;

  const starts = [];
  const bare = [];
  for (let i = 0; i < 7; i++) {
    starts.push(await startupOnce());
    bare.push(bareNodeOnce());
  }
  const st = median(starts);
  const bn = median(bare);
  row('start-up: exec → status answers', Math.round(st), 'ms', Math.round(bn), 'ms bare node -e', st / bn, 'under 400 ms');
}
