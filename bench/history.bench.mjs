// Metric history figures (docs/journal.md, "Metric history"):
//  - bytes written to storage per stored sample: /proc/<pid>/io write_bytes of the daemon on the dev profile
//    at 1 s sampling, against Prometheus 2.42 (Debian's `prometheus`) scraping `prometheus-node-exporter`
//    every second into a fresh TSDB, side by side over the same window. BENCH_HISTORY_S sets the window
//    (default 120 s; BENCH_HISTORY_S=600 is the 10 minutes of the issue);
//  - bytes on disk per sample after an hour of synthetic history (120 series at 1 Hz through the live
//    history writer, flushed every 10 s);
//  - `waveos metrics --since 24h --name X --json` on a journal of 24 h x 50 series at 1 Hz (the daemon not
//    running: the CLI reads the file), wall and CPU time. BENCH_HISTORY_ONLY=query runs only this figure.
// BENCH_HISTORY_WRITES=0 leaves out the daemons (the first figure), BENCH_HISTORY_QUERY=0 the query.
// BENCH_HISTORY_BEFORE=DIR runs every figure also on another build of WaveOS (a checkout with dist/ built,
// e.g. the commit before a change) in the same run, as the baseline column.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const SECONDS = Number(process.env.BENCH_HISTORY_S ?? 120);
const WARMUP_S = 15;
const HERE = resolve(new URL('..', import.meta.url).pathname);
const BEFORE = process.env.BENCH_HISTORY_BEFORE ? resolve(process.env.BENCH_HISTORY_BEFORE) : undefined;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function writeBytes(pid) {
  const m = /^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'latin1'));
  return m ? Number(m[1]) : NaN;
}

function freePort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function fetchText(url) {
  return new Promise((res) => {
    const req = get(url, { timeout: 3_000 }, (r) => {
      let b = '';
      r.on('data', (c) => (b += c));
      r.on('end', () => res(r.statusCode === 200 ? b : undefined));
    });
    req.on('error', () => res(undefined));
    req.on('timeout', () => req.destroy());
  });
}

async function waitFor(what, fn, ms = 30_000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) if (await fn()) return;
  throw new Error(`bench history: timed out waiting for ${what}`);
}

/** Samples stored in a journal: chunks (this build) or rows (a build before chunks). */
async function storedSamples(tree, db) {
  const { JournalReader } = await import(pathToFileURL(join(tree, 'dist/journal/index.js')).href);
  const r = JournalReader.openReadOnly(db);
  try {
    return r.sampleCount();
  } finally {
    r.close();
  }
}

function startDaemon(tree, dir, name, extra = '') {
  const root = join(dir, name);
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(cfg, `schema_version: 2\ntelemetry:\n  sample_interval: 1s\n${extra}`);
  const p = spawn(process.execPath, [join(tree, 'bin/waveos.js'), 'run', '--root', root, '--profile', 'dev', '--config', cfg, '--log-format', 'json'], { cwd: tree, stdio: 'ignore' });
  const ready = () => waitFor(`${name} daemon`, () => spawnSync(process.execPath, [join(tree, 'bin/waveos.js'), 'status', '--root', root]).status === 0);
  return { p, root, db: join(root, 'var/lib/waveos/waveos.db'), ready };
}

async function startPrometheus(dir) {
  for (const [cmd, pkg] of [
    ['prometheus', 'prometheus'],
    ['prometheus-node-exporter', 'prometheus-node-exporter'],
  ]) {
    const r = spawnSync('bash', [join(HERE, 'scripts/ensure-debian-package.sh'), cmd, pkg], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) return { why: `${pkg} not installable: ${r.stderr.trim()}` };
  }
  const nePort = await freePort();
  const promPort = await freePort();
  const ne = spawn('prometheus-node-exporter', [`--web.listen-address=127.0.0.1:${nePort}`], { stdio: 'ignore' });
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: {scrape_interval: 1s, evaluation_interval: 1m}\nscrape_configs:\n  - job_name: node\n    static_configs: [{targets: ['127.0.0.1:${nePort}']}]\n`,
  );
  const prom = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'],
    { stdio: 'ignore' },
  );
  const appended = async () => {
    const t = await fetchText(`http://127.0.0.1:${promPort}/metrics`);
    const m = t && /^prometheus_tsdb_head_samples_appended_total(?:\{[^}]*\})? (\S+)$/m.exec(t);
    return m ? Number(m[1]) : undefined;
  };
  await waitFor('prometheus', async () => (await appended()) !== undefined);
  return { prom, ne, appended, stop: () => (prom.kill('SIGTERM'), ne.kill('SIGTERM')) };
}

/** Bytes written per stored sample over the window, for every participant at once. */
async function writtenPerSample(row) {
  const dir = mkdtempSync(join(tmpdir(), 'waveos-bench-history-'));
  const ours = startDaemon(HERE, dir, 'chunks');
  // The same build with artifacts.metrics_csv: at_stop (metrics.csv written at the stop, not as it goes).
  const atStop = startDaemon(HERE, dir, 'at-stop', 'artifacts:\n  metrics_csv: at_stop\n');
  const before = BEFORE ? startDaemon(BEFORE, dir, 'rows') : undefined;
  let prom;
  try {
    await ours.ready();
    await atStop.ready();
    await before?.ready();
    prom = await startPrometheus(dir).catch((e) => ({ why: String(e) }));
    await sleep(WARMUP_S * 1000);
    const csv = (d) => {
      try {
        return statSync(join(d.root, 'var/lib/waveos/artifacts/latest/metrics.csv')).size;
      } catch {
        return 0;
      }
    };
    const at = async () => ({
      ours: { w: writeBytes(ours.p.pid), n: await storedSamples(HERE, ours.db), csv: csv(ours) },
      atStop: { w: writeBytes(atStop.p.pid), n: await storedSamples(HERE, atStop.db), csv: csv(atStop) },
      before: before && { w: writeBytes(before.p.pid), n: await storedSamples(BEFORE, before.db), csv: csv(before) },
      prom: prom.prom && { w: writeBytes(prom.prom.pid), n: await prom.appended() },
    });
    const a = await at();
    await sleep(SECONDS * 1000);
    const b = await at();
    const per = (k) => (b[k].w - a[k].w) / Math.max(1, b[k].n - a[k].n);
    const rate = (k) => (b[k].n - a[k].n) / SECONDS;
    const promPer = b.prom ? per('prom') : NaN;
    const promNote = b.prom ? `Prometheus 2.42 B/sample (${rate('prom').toFixed(0)} samples/s)` : `Prometheus did not run: ${prom.why}`;
    row(`history: bytes written per stored sample, dev profile ${SECONDS} s (${rate('ours').toFixed(0)} samples/s)`, per('ours').toFixed(1), 'B/sample', b.prom ? promPer.toFixed(1) : '', promNote, per('ours') / promPer, '≤ Prometheus');
    // The artifacts' metrics.csv (part of the contract) is written by the same process: its share, and the rest.
    const rest = (k) => (b[k].w - a[k].w - (b[k].csv - a[k].csv)) / Math.max(1, b[k].n - a[k].n);
    row(
      `history: bytes written per stored sample, artifacts.metrics_csv: at_stop (${rate('atStop').toFixed(0)} samples/s)`,
      per('atStop').toFixed(1),
      'B/sample',
      b.prom ? promPer.toFixed(1) : '',
      promNote,
      per('atStop') / promPer,
      '≤ Prometheus',
    );
    row('history: of which not the artifacts metrics.csv (journal, logs, rest)', rest('ours').toFixed(1), 'B/sample', b.before ? rest('before').toFixed(1) : '', b.before ? 'B/sample baseline build' : '', b.before ? rest('ours') / rest('before') : undefined, '');
    if (b.before) row(`history: bytes written per stored sample, baseline build (BENCH_HISTORY_BEFORE) (${rate('before').toFixed(0)} samples/s)`, per('before').toFixed(1), 'B/sample', per('ours').toFixed(1), 'B/sample this build', per('before') / per('ours'), 'before');
    row('history: MB written to storage per minute (daemon, whole process)', (((b.ours.w - a.ours.w) / SECONDS) * 60 / 1e6).toFixed(2), 'MB/min', b.prom ? (((b.prom.w - a.prom.w) / SECONDS) * 60 / 1e6).toFixed(2) : '', 'MB/min Prometheus', b.prom ? (b.ours.w - a.ours.w) / (b.prom.w - a.prom.w) : undefined, '');
    const { JournalReader } = await import(pathToFileURL(join(HERE, 'dist/journal/index.js')).href);
    const r = JournalReader.openReadOnly(ours.db);
    const fp = r.metricsFootprint();
    r.close();
    row(`history: chunk bytes per sample as stored, the dev profile's own series (open-chunk pieces included)`, (fp.raw_bytes / fp.raw_samples).toFixed(2), 'B/sample', '', '', undefined, '');
    // What the same samples take once sealed: pieces (a chunk header and a first value every flush) are
    // transient, and at 1 Hz a chunk is sealed only after 30 minutes, longer than the window.
    const sealed = await resealedPerSample(ours.db);
    row(`history: chunk bytes per sample once sealed, the dev profile's own series`, sealed.all.toFixed(2), 'B/sample', sealed.gorilla.toFixed(2), 'B/sample Gorilla only', sealed.all / sealed.gorilla, 'Gorilla paper: 1.37');
    row(`history: of which their timestamps`, sealed.timestamps.toFixed(2), 'B/sample', '', '', undefined, '');
  } finally {
    for (const d of [ours, atStop, before]) if (d) d.p.kill('SIGTERM');
    prom?.stop?.();
    await sleep(2_000);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A journal's samples re-encoded as sealed chunks (bench/series-size.mjs): as written, Gorilla alone, timestamps. */
async function resealedPerSample(db) {
  const { resealed } = await import('./series-size.mjs');
  const { total } = await resealed(db, HERE);
  return { all: total.chosen / total.n, gorilla: total.gorilla / total.n, timestamps: total.timestamps / total.n };
}

/**
 * The history writer alone, in a child process of its own: 128 series at 1 Hz, one flush (and sync) every
 * 10 s as on the dev profile; its write_bytes per sample over 10 simulated minutes, and over an hour (which
 * holds the sealing of every chunk: at 1 Hz a chunk is sealed after 30 minutes, outside a 10-minute window).
 */
export function writerAlone(tree) {
  const dir = mkdtempSync(join(tmpdir(), 'waveos-bench-writer-'));
  const script = `
    const { Journal } = await import(${JSON.stringify(pathToFileURL(join(tree, 'dist/journal/index.js')).href)});
    const { FakeClock, silentLogger, canonicalJson } = await import(${JSON.stringify(pathToFileURL(join(tree, 'dist/core/index.js')).href)});
    const { History } = await import(${JSON.stringify(pathToFileURL(join(tree, 'dist/telemetry/history.js')).href)});
    const { readFileSync } = await import('node:fs');
    const wb = () => Number(/^write_bytes:\\s+(\\d+)/m.exec(readFileSync('/proc/self/io', 'latin1'))[1]);
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const j = Journal.openWriter(${JSON.stringify(join(dir, 'waveos.db'))}, { clock, runId: 'bench', bootId: 'bench' });
    const h = new History({ journal: j, clock, log: silentLogger(), emit: () => undefined, rawRetentionMs: 86_400_000, aggregateRetentionMs: 30 * 86_400_000, quotaBytes: 1e12 });
    const series = Array.from({ length: 128 }, (_, k) => ({ key: 's' + k, name: 'metric_' + (k % 16), type: 'gauge', unit: 'ratio', labels: { idx: String(k) }, labels_json: canonicalJson({ idx: String(k) }) }));
    const step = (s) => h.capture(series.map((x, k) => ({ ...x, value: k % 3 === 0 ? 1 : Math.round((s * (k + 1)) % 977) / 10, ts_ms: clock.now() })));
    for (let s = 0; s < 60; s++) { step(s); clock.advance(1000); if (s % 10 === 9) h.flush(); }
    const a = wb(); const n0 = j.sampleCount();
    for (let s = 60; s < 660; s++) { step(s); clock.advance(1000); if (s % 10 === 9) h.flush(); }
    const b = wb(); const n1 = j.sampleCount();
    for (let s = 660; s < 3660; s++) { step(s); clock.advance(1000); if (s % 10 === 9) h.flush(); }
    const c = wb(); const n2 = j.sampleCount();
    j.close();
    process.stdout.write(JSON.stringify({ perSample: (b - a) / (n1 - n0), hourPerSample: (c - a) / (n2 - n0) }));`;
  try {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`writer bench failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An hour of 120 series at 1 Hz through the live history writer; bytes of the journal per sample. */
export async function hourOnDisk(tree) {
  const dir = mkdtempSync(join(tmpdir(), 'waveos-bench-hour-'));
  try {
    const { Journal } = await import(pathToFileURL(join(tree, 'dist/journal/index.js')).href);
    const { FakeClock, silentLogger, canonicalJson } = await import(pathToFileURL(join(tree, 'dist/core/index.js')).href);
    const { History } = await import(pathToFileURL(join(tree, 'dist/telemetry/history.js')).href);
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const db = join(dir, 'waveos.db');
    const j = Journal.openWriter(db, { clock, runId: 'bench', bootId: 'bench' });
    const h = new History({ journal: j, clock, log: silentLogger(), emit: () => undefined, rawRetentionMs: 86_400_000, aggregateRetentionMs: 30 * 86_400_000, quotaBytes: 1e12 });
    // The kinds a board sends: slow gauges with noise, counters, constant flags, ratios with 3 decimals.
    const series = Array.from({ length: 120 }, (_, k) => ({ key: `s${k}`, name: `metric_${k % 12}`, unit: 'ratio', labels: { idx: String(k) }, labels_json: canonicalJson({ idx: String(k) }), kind: k % 4 }));
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const counters = new Float64Array(120);
    for (let s = 0; s < 3600; s++) {
      const values = series.map((x, k) => {
        let v;
        if (x.kind === 0) v = Math.round((40 + 5 * Math.sin(s / 300 + k) + rnd()) * 1000) / 1000;
        else if (x.kind === 1) v = counters[k] += Math.floor(rnd() * 1500);
        else if (x.kind === 2) v = 1;
        else v = Math.round(rnd() * 1000) / 1000;
        return { ...x, type: 'gauge', value: v, ts_ms: clock.now() };
      });
      h.capture(values);
      clock.advance(1000);
      if (s % 10 === 9) h.flush();
    }
    h.flush(true);
    const samples = j.sampleCount();
    const fp = j.metricsFootprint();
    j.close();
    const files = Object.fromEntries(readdirSync(dir).map((f) => [f, statSync(join(dir, f)).size]));
    const bytes = Object.values(files).reduce((n, b) => n + b, 0);
    // Where the file's pages go, by table and index (SQLite's dbstat).
    let tables;
    try {
      const { default: Database } = await import('better-sqlite3');
      const d = new Database(db, { readonly: true });
      tables = Object.fromEntries(d.prepare('SELECT name, SUM(pgsize) AS b FROM dbstat GROUP BY name ORDER BY b DESC').all().map((r) => [r.name, r.b]));
      d.close();
    } catch {
      tables = undefined;
    }
    return { perSample: bytes / samples, samples, files, tables, rawPerSample: fp.raw_bytes !== undefined && fp.raw_samples ? fp.raw_bytes / fp.raw_samples : undefined };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A journal of 24 h x 50 series at 1 Hz, written by `tree`'s own journal code (its format); the root it is in. */
async function queryJournal(tree) {
  const dir = mkdtempSync(join(tmpdir(), 'waveos-bench-query-'));
  const { Journal } = await import(pathToFileURL(join(tree, 'dist/journal/index.js')).href);
  const { pathsFor, ensureLayout, FakeClock } = await import(pathToFileURL(join(tree, 'dist/core/index.js')).href);
  const paths = pathsFor(dir);
  ensureLayout(paths);
  const end = Date.now();
  const start = end - 86_400_000 + 60_000;
  const j = Journal.openWriter(paths.db, { clock: new FakeClock(start), runId: 'bench', bootId: 'bench' });
  const batch = [];
  for (let s = 0; s < 86_340; s++) {
    for (let k = 0; k < 50; k++) batch.push({ ts_ms: start + s * 1000, name: `metric_${k % 10}`, value: (s % 600) / 10 + k, unit: 'ratio', labels: { idx: String(k) } });
    if (batch.length >= 50_000) j.appendSamples(batch.splice(0));
  }
  j.appendSamples(batch.splice(0));
  j.close();
  return { dir, dbBytes: statSync(paths.db).size };
}

/** CPU seconds of the children this process has waited for (/proc/self/stat cutime + cstime, 10 ms ticks). */
function childCpuS() {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

/** One run of the CLI's `metrics --since 24h --name metric_3 --json` on the journal in `dir`: wall ms, CPU s, samples out. */
function queryOnce(tree, dir) {
  const c = childCpuS();
  const t = performance.now();
  const r = spawnSync(process.execPath, [join(tree, 'bin/waveos.js'), 'metrics', '--root', dir, '--since', '24h', '--name', 'metric_3', '--json'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`metrics --since failed: ${r.stderr}`);
  return { ms, cpu: childCpuS() - c, samples: JSON.parse(r.stdout).history.samples.length };
}

/**
 * The CLI's `metrics --since 24h --name metric_3 --json` on a 24 h x 50 series journal, BENCH_HISTORY_QUERY_RUNS
 * times (default 5), alternating with the baseline build's runs (each on a journal its own code wrote) so both
 * see the same load: medians, and the range.
 */
async function metricsQueries(row) {
  const runs = Number(process.env.BENCH_HISTORY_QUERY_RUNS ?? 5);
  const ours = await queryJournal(HERE);
  const base = BEFORE ? await queryJournal(BEFORE) : undefined;
  try {
    const a = [];
    const b = [];
    for (let i = 0; i < runs; i++) {
      a.push(queryOnce(HERE, ours.dir));
      if (base) b.push(queryOnce(BEFORE, base.dir));
    }
    const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    const span = (xs, f) => `${f(Math.min(...xs))}–${f(Math.max(...xs))}`;
    const ms = (x) => String(Math.round(x));
    const s2 = (x) => x.toFixed(2);
    const qm = med(a.map((r) => r.ms));
    const bm = base ? med(b.map((r) => r.ms)) : undefined;
    row(
      `history: metrics --since 24h --name X --json (${a[0].samples} samples; journal ${(ours.dbBytes / 1048576).toFixed(0)} MiB), wall ${span(a.map((r) => r.ms), ms)}`,
      Math.round(qm),
      'ms',
      base ? Math.round(bm) : Math.round(bareNodeMs()),
      base ? `ms baseline, ${span(b.map((r) => r.ms), ms)}` : 'ms bare node -e',
      base ? qm / bm : undefined,
      '< 300 ms',
    );
    const qc = med(a.map((r) => r.cpu));
    const bc = base ? med(b.map((r) => r.cpu)) : undefined;
    row(`history: the same, CPU (user + system) ${span(a.map((r) => r.cpu), s2)}`, s2(qc), 's', base ? s2(bc) : '', base ? `s baseline, ${span(b.map((r) => r.cpu), s2)}` : '', base ? qc / bc : undefined, '');
  } finally {
    rmSync(ours.dir, { recursive: true, force: true });
    if (base) rmSync(base.dir, { recursive: true, force: true });
  }
}

function bareNodeMs() {
  const t = performance.now();
  spawnSync(process.execPath, ['-e', '0']);
  return performance.now() - t;
}

export async function run(row) {
  // BENCH_HISTORY_ONLY=query: only the metrics query figures (the rest takes minutes).
  if (process.env.BENCH_HISTORY_ONLY === 'query') return metricsQueries(row);
  if (process.env.BENCH_HISTORY_WRITES !== '0') await writtenPerSample(row);
  const hour = await hourOnDisk(HERE);
  const hourBefore = BEFORE && existsSync(join(BEFORE, 'dist')) ? await hourOnDisk(BEFORE) : undefined;
  row(
    'history: bytes on disk per sample after an hour (120 series @1 Hz)',
    hour.perSample.toFixed(2),
    'B/sample',
    hourBefore ? hourBefore.perSample.toFixed(1) : '',
    hourBefore ? 'B/sample baseline build' : '',
    hourBefore ? hour.perSample / hourBefore.perSample : undefined,
    '≤ 2',
  );
  if (hour.rawPerSample !== undefined)
    row(
      'history: of which the chunks themselves (synthetic: noisy 3-decimal gauges, counters, flags)',
      hour.rawPerSample.toFixed(2),
      'B/sample',
      hourBefore?.rawPerSample !== undefined ? hourBefore.rawPerSample.toFixed(2) : '',
      hourBefore ? 'B/sample baseline build' : '',
      hourBefore?.rawPerSample ? hour.rawPerSample / hourBefore.rawPerSample : undefined,
      '',
    );
  if (hour.tables) {
    const per = (b) => (b / hour.samples).toFixed(2);
    const t = hour.tables;
    row('history: of which pages of chunks (table and indexes), one-minute aggregates (table and index)', per((t.chunks ?? 0) + (t.chunks_start ?? 0) + (t.chunks_series_start ?? 0)), 'B/sample', per(Object.entries(t).filter(([k]) => k.startsWith('metrics_1m') || k.includes('metrics_1m')).reduce((n, [, b]) => n + b, 0)), 'B/sample aggregates', undefined, '');
    if (process.env.BENCH_HISTORY_VERBOSE) console.log(JSON.stringify({ files: hour.files, tables: hour.tables, before: hourBefore && { files: hourBefore.files, tables: hourBefore.tables } }));
  }
  const w = writerAlone(HERE);
  const wBefore = BEFORE ? writerAlone(BEFORE) : undefined;
  row('history: writer alone, bytes written per sample over 10 min (128 series, flush + sync every 10 s)', w.perSample.toFixed(1), 'B/sample', wBefore ? wBefore.perSample.toFixed(1) : '', wBefore ? 'B/sample baseline build' : '', wBefore ? w.perSample / wBefore.perSample : undefined, '≤ Prometheus');
  row('history: writer alone, bytes written per sample over an hour (every chunk sealed in it)', w.hourPerSample.toFixed(1), 'B/sample', wBefore ? wBefore.hourPerSample.toFixed(1) : '', wBefore ? 'B/sample baseline build' : '', wBefore ? w.hourPerSample / wBefore.hourPerSample : undefined, '');
  if (process.env.BENCH_HISTORY_QUERY === '0') return;
  await metricsQueries(row);
}
