// Evidence figures: exporting a pack of 24 h of 1 Hz metrics for 50 series plus 100,000 events, timed and
// with its peak RSS measured in a child process (so the journal fill does not count), against reading
// the same rows raw from SQLite. EVIDENCE_BENCH_BEFORE=<tree> (a checkout with its own dist/, e.g. the
// branch's base built elsewhere) exports the same journal with that tree too, alternating, in the same run;
// EVIDENCE_BENCH_REPEAT=N repeats each export N times (in fresh processes) to show the noise.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const SERIES = 50;
const SECONDS = 24 * 3600;
const EVENTS = 100_000;

function vm(field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export async function fill(root) {
  const { Journal } = await import('../dist/journal/index.js');
  const { pathsFor, ensureLayout, FakeClock } = await import('../dist/core/index.js');
  const paths = pathsFor(root);
  ensureLayout(paths);
  const end = Date.now();
  const start = end - SECONDS * 1000;
  const clock = new FakeClock(start, 1000);
  const j = Journal.openWriter(paths.db, { clock, runId: 'bench', bootId: 'bench', batchMax: 5000, batchDelayMs: 1000 });
  const step = (SECONDS * 1000) / EVENTS;
  for (let i = 0; i < EVENTS; i++) {
    const warn = i % 500 === 0;
    j.append({
      kind: warn ? 'policy.triggered' : i % 7 === 0 ? 'service.health' : 'telemetry.sample',
      severity: warn ? 'warning' : 'info',
      source: 'bench',
      reason: warn ? `rule temp_high fired: temperature ${40 + (i % 30)} above 60 for 30 s` : `routine event ${i}`,
      data: { i, load: (i % 100) / 100, service: `svc-${i % 5}` },
    });
    clock.advance(step);
  }
  j.flush();
  const batch = [];
  for (let s = 0; s < SECONDS; s++) {
    for (let k = 0; k < SERIES; k++) batch.push({ ts_ms: start + s * 1000, name: `metric_${k % 10}`, value: (s % 600) / 10 + k, unit: 'ratio', labels: { idx: String(k) } });
    if (batch.length >= 50_000) j.appendSamples(batch.splice(0));
  }
  j.appendSamples(batch.splice(0));
  j.close();
  return { start, end };
}

/** The child: idle RSS once the modules and journal are open, then the export, with the kernel's peak-RSS mark reset in between. */
async function child() {
  const { root, start, end, dist } = JSON.parse(process.env.WAVEOS_EVIDENCE_BENCH_CHILD);
  const { JournalReader } = await import(join(dist, 'journal/index.js'));
  const { pathsFor, silentLogger } = await import(join(dist, 'core/index.js'));
  const { buildPack, loadOrCreateDeviceKey } = await import(join(dist, 'evidence/index.js'));
  const paths = pathsFor(root);
  const journal = JournalReader.openReadOnly(paths.db);
  const key = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, 'bench-device', Date.now()).key;
  void silentLogger;
  const source = {
    journal,
    paths,
    key,
    device: { device_id: 'bench-device', app_id: 'bench', environment: 'bench' },
    waveos: { version: 'bench' },
    runId: 'bench',
    config: {},
    policyFiles: () => [],
    env: {},
    systemFacts: () => Promise.resolve({ bench: true }),
  };
  const settle = async () => {
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 200));
  };
  await settle();
  const cold = vm('VmRSS');
  // A running daemon has exported before: its heap and the journal's page cache are warm. One small
  // export (the last minute) stands for that; "idle" is measured after it.
  await buildPack(source, { sinceMs: end - 60_000, untilMs: end, reason: 'warm-up', trigger: 'manual', requestedBy: 'bench', nowMs: Date.now() - 1000 });
  await settle();
  const idle = vm('VmRSS');
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // older kernels: the peak then includes start-up
  }
  // The event loop must keep turning during the export: measure the longest gap between timer ticks.
  let last = performance.now();
  let maxGap = 0;
  // Where the memory is, sampled with the same timer: the V8 heap and the Buffers outside it.
  const mem = { heapTotal: 0, heapUsed: 0, external: 0 };
  const m0 = process.memoryUsage();
  const tick = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    const m = process.memoryUsage();
    mem.heapTotal = Math.max(mem.heapTotal, m.heapTotal - m0.heapTotal);
    mem.heapUsed = Math.max(mem.heapUsed, m.heapUsed - m0.heapUsed);
    mem.external = Math.max(mem.external, m.external - m0.external);
  }, 10);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const built = await buildPack(source, { sinceMs: start, untilMs: end, reason: 'bench', trigger: 'manual', requestedBy: 'bench', nowMs: Date.now() });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  clearInterval(tick);
  const peak = vm('VmHWM');
  // Baseline: the same data read raw, nothing formatted or written.
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(paths.db, { readonly: true });
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  let n = 0;
  for (const r of db.prepare('SELECT * FROM events').raw().iterate()) n += r.length > 0 ? 1 : 0;
  // Samples: the rows of a journal from before chunks, or the chunks decoded (nothing formatted) since.
  const chunked = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'chunks'").get() !== undefined;
  if (!chunked) for (const r of db.prepare('SELECT * FROM metrics WHERE ts_ms >= ? AND ts_ms <= ?').raw().iterate(start, end)) n += r.length > 0 ? 1 : 0;
  else {
    const { decodeChunk } = await import(join(dist, 'telemetry/chunk-codec.js'));
    for (const r of db.prepare('SELECT data FROM chunks WHERE start_ms <= ? AND end_ms >= ?').raw().iterate(end, start)) n += decodeChunk(r[0]).length;
  }
  const rawMs = performance.now() - t1;
  const rawCpu = process.cpuUsage(c1);
  const rawCpuMs = (rawCpu.user + rawCpu.system) / 1000;
  db.close();
  // policy simulate over the same 24 h, through the history reader (what `waveos policy simulate --since 24h` does).
  const { simulateJournal } = await import(join(dist, 'cli/cmd-policy.js'));
  const { buildPolicySet, parsePolicyText } = await import(join(dist, 'policy/index.js'));
  const policy = buildPolicySet([
    parsePolicyText(
      `policy_version: 1
rules:
  - { id: m3-high, kind: threshold, metric: metric_3, op: ">", value: 60, for: 10s, clear: { op: "<", value: 20 }, actions: [{ type: emit_event }] }
  - { id: any-high, kind: threshold, metric: metric_7, labels: { idx: "4*" }, op: ">", value: 100, for: 5s, cooldown: 1m, actions: [{ type: emit_event }] }
  - { id: restart-limit, kind: rate_limit, flow: service.restart, limit: 5, per: 10m }
`,
      'bench.yaml',
    ),
  ]);
  const t2 = performance.now();
  const c2 = process.cpuUsage();
  const sim = simulateJournal(policy, journal, { sinceMs: start, untilMs: end });
  const simMs = performance.now() - t2;
  const simCpu = process.cpuUsage(c2);
  const simCpuMs = (simCpu.user + simCpu.system) / 1000;
  journal.close();
  process.stdout.write(
    JSON.stringify({ simMs, simCpuMs, simSamples: sim.samples, simEvents: sim.observations, simDecisions: sim.decisions.length, ms, rawMs, cpuMs, rawCpuMs, cold, idle, peak, mem, load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0], bytes: built.bytes, events: built.manifest.journal.events, samples: built.manifest.metrics.samples, maxGap, rows: n, report: built.manifest.files.find((f) => f.path === 'report.html')?.size }),
  );
}

export async function run(row) {
  const root = mkdtempSync(join(tmpdir(), 'bench-evidence-'));
  try {
    const tf = performance.now();
    const { start, end } = await fill(root);
    process.stderr.write(`bench: evidence journal filled in ${Math.round(performance.now() - tf)} ms\n`);
    const ours = fileURLToPath(new URL('../dist', import.meta.url));
    const before = process.env.EVIDENCE_BENCH_BEFORE ? join(process.env.EVIDENCE_BENCH_BEFORE, 'dist') : undefined;
    const repeat = Math.max(1, Number(process.env.EVIDENCE_BENCH_REPEAT ?? 1));
    const exportOnce = (dist) => {
      const r = spawnSync(process.execPath, [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), '--expose-gc', new URL(import.meta.url).pathname], {
        env: { ...process.env, WAVEOS_EVIDENCE_BENCH_CHILD: JSON.stringify({ root, start, end, dist }) },
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      });
      if (r.status !== 0) throw new Error(`evidence bench child failed: ${r.stderr}`);
      return JSON.parse(r.stdout);
    };
    const mib = (b) => (b / 1048576).toFixed(1);
    const runs = [];
    for (let i = 0; i < repeat; i++) {
      if (before) runs.push({ tag: 'before', o: exportOnce(before) });
      runs.push({ tag: 'after', o: exportOnce(ours) });
    }
    for (const { tag, o } of runs) {
      process.stderr.write(
        `bench: evidence ${tag}: ${(o.ms / 1000).toFixed(2)} s (${(o.cpuMs / 1000).toFixed(2)} s CPU), peak RSS +${mib(o.peak - o.idle)} MiB over idle ${mib(o.idle)} MiB (heap committed +${mib(o.mem.heapTotal)}, heap used +${mib(o.mem.heapUsed)}, external +${mib(o.mem.external)} MiB), stall ${Math.round(o.maxGap)} ms, load ${o.load}\n`,
      );
    }
    if (before) {
      const b = runs.filter((r) => r.tag === 'before').map((r) => r.o);
      const a = runs.filter((r) => r.tag === 'after').map((r) => r.o);
      const range = (xs, f, d = 1) => `${Math.min(...xs.map(f)).toFixed(d)}-${Math.max(...xs.map(f)).toFixed(d)}`;
      row(`evidence export before (${b.length} runs, same journal): time`, range(b, (o) => o.ms / 1000, 2), 's', range(a, (o) => o.ms / 1000, 2), 's after', a.reduce((x, o) => x + o.ms, 0) / b.reduce((x, o) => x + o.ms, 0), 'after/before');
      row('evidence export before: peak RSS above idle', range(b, (o) => (o.peak - o.idle) / 1048576), 'MiB', range(a, (o) => (o.peak - o.idle) / 1048576), 'MiB after', a.reduce((x, o) => x + o.peak - o.idle, 0) / b.reduce((x, o) => x + o.peak - o.idle, 0), 'after/before');
      row('evidence export before: longest event-loop stall', range(b, (o) => o.maxGap, 0), 'ms', range(a, (o) => o.maxGap, 0), 'ms after', a.reduce((x, o) => x + o.maxGap, 0) / b.reduce((x, o) => x + o.maxGap, 0), 'after/before');
    }
    const o = runs[runs.length - 1].o;
    const dbBytes = statSync(join(root, 'var/lib/waveos/waveos.db')).size;
    row('evidence export: 24 h x 50 series @1 Hz + 100k events', (o.ms / 1000).toFixed(2), 's', (o.rawMs / 1000).toFixed(2), 's raw SQLite read', o.ms / o.rawMs, '< 5 s');
    row('evidence export: CPU time (user+sys), same pack', (o.cpuMs / 1000).toFixed(2), 's', (o.rawCpuMs / 1000).toFixed(2), 's raw read CPU', o.cpuMs / o.rawCpuMs, `load avg ${o.load}`);
    row('evidence export: peak RSS above idle (warm daemon)', ((o.peak - o.idle) / 1048576).toFixed(1), 'MiB', (o.idle / 1048576).toFixed(1), 'MiB idle', (o.peak - o.idle) / o.idle, '< 40 MiB');
    row('evidence export: peak RSS above a cold process', ((o.peak - o.cold) / 1048576).toFixed(1), 'MiB', (o.cold / 1048576).toFixed(1), 'MiB cold', (o.peak - o.cold) / o.cold, '');
    row('evidence export: longest event-loop stall', Math.round(o.maxGap), 'ms', 10, 'ms timer', o.maxGap / 10, 'watchdog keeps petting');
    row(`policy simulate --since 24h: journal (${(o.simSamples / 1e6).toFixed(2)} M samples, ${o.simEvents} events, ${o.simDecisions} decisions)`, (o.simMs / 1000).toFixed(2), 's', (o.rawMs / 1000).toFixed(2), 's raw SQLite read', o.simMs / o.rawMs, `< 3 s (${(o.simCpuMs / 1000).toFixed(2)} s CPU)`);
    row('evidence pack size (gzip) vs journal file', (o.bytes / 1048576).toFixed(1), 'MiB', (dbBytes / 1048576).toFixed(1), 'MiB journal', o.bytes / dbBytes, '');
    process.stderr.write(`bench: evidence pack ${o.events} events, ${o.samples} samples, report.html ${o.report} bytes\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.env.WAVEOS_EVIDENCE_BENCH_CHILD) await child();
