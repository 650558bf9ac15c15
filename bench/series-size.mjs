// Bytes per sample of a journal's own series once sealed: every series' samples (sealed chunks and the
// open chunks' head-log pieces) re-encoded as sealed chunks of up to CHUNK_MAX_SAMPLES, with the chunk encoder
// as it writes (the smaller of decimal and Gorilla) and with Gorilla alone (version 1, the encoder before the
// decimal one), and the timestamps' part (the same chunks with every value 0). Also how far the stamps lie
// from a grid of the sampling interval (the jitter a stamp tolerance has to cover).
//
// And the bytes on disk per sample after an hour of those series played again through the history writer.
//
//   node bench/series-size.mjs DB [DB...]      (run `npm run build` first; the daemon may be running)
//   BENCH_TREE=DIR                             another build's dist/ to encode with (e.g. the one before)
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const HERE = process.env.BENCH_TREE ? resolve(process.env.BENCH_TREE) : resolve(new URL('..', import.meta.url).pathname);

/** Every series' samples in stored order, by series: { name, labels, samples }. */
export async function seriesSamples(db, tree = HERE) {
  const { JournalReader } = await import(pathToFileURL(join(tree, 'dist/journal/index.js')).href);
  const { decodeChunk } = await import(pathToFileURL(join(tree, 'dist/telemetry/chunk-codec.js')).href);
  const r = JournalReader.openReadOnly(db);
  const by = new Map();
  try {
    for (const s of r.seriesCatalogue()) by.set(s.id, { name: s.name, labels: s.labels, samples: [] });
    const take = (c) => {
      const s = by.get(c.series_id);
      for (const x of decodeChunk(c.data)) s.samples.push(x);
    };
    for (let id = 0; ; ) {
      const page = r.chunksAfter(id, 2_000);
      if (page.length === 0) break;
      page.forEach(take);
      id = page[page.length - 1].id;
    }
    r.headChunks().forEach(take);
  } finally {
    r.close();
  }
  for (const s of by.values()) s.samples.sort((a, b) => a.t - b.t);
  return [...by.values()].filter((s) => s.samples.length > 0);
}

/** Per series and in all: B/sample with the chosen encoding, with Gorilla alone, and of timestamps. */
export async function resealed(db, tree = HERE) {
  const { CHUNK_MAX_SAMPLES } = await import(pathToFileURL(join(tree, 'dist/journal/index.js')).href);
  const codec = await import(pathToFileURL(join(tree, 'dist/telemetry/chunk-codec.js')).href);
  const gorilla = codec.encodeGorillaChunk ?? codec.encodeChunk;
  const rows = [];
  const total = { n: 0, chosen: 0, gorilla: 0, timestamps: 0, decimalChunks: 0, chunks: 0 };
  for (const s of await seriesSamples(db, tree)) {
    const row = { series: `${s.name}${s.labels === '{}' ? '' : s.labels}`, n: 0, chosen: 0, gorilla: 0, timestamps: 0 };
    for (let i = 0; i < s.samples.length; i += CHUNK_MAX_SAMPLES) {
      const part = s.samples.slice(i, i + CHUNK_MAX_SAMPLES);
      const c = codec.encodeChunk(part);
      row.n += part.length;
      row.chosen += c.length;
      row.gorilla += gorilla(part).length;
      row.timestamps += gorilla(part.map((x) => ({ t: x.t, v: 0 }))).length;
      total.chunks++;
      if (c[0] === 2) total.decimalChunks++;
    }
    for (const k of ['n', 'chosen', 'gorilla', 'timestamps']) total[k] += row[k];
    rows.push(row);
  }
  return { rows, total };
}

/**
 * |stamp − tick| of every sample, the ticks a grid of `intervalMs` laid on the earliest stamp of a series
 * sampled every pass: the jitter of the sampling passes as the samples carry it.
 */
export async function jitter(db, intervalMs = 1_000, tree = HERE) {
  const all = await seriesSamples(db, tree);
  const base = Math.min(...all.map((s) => s.samples[0].t));
  const off = [];
  for (const s of all) for (const x of s.samples) off.push((((x.t - base) % intervalMs) + intervalMs) % intervalMs);
  // Offsets past half the interval are early (or late by more than half): fold them.
  const d = off.map((o) => (o > intervalMs / 2 ? intervalMs - o : o)).sort((a, b) => a - b);
  const within = (ms) => d.filter((x) => x <= ms).length / d.length;
  return { samples: d.length, zero: within(0), le5: within(5), le16: within(16), le25: within(25), le50: within(50), le64: within(64), le100: within(100), p99: d[Math.floor(d.length * 0.99)] };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const db of process.argv.slice(2)) {
    const { rows, total } = await resealed(db);
    console.log(`\n${db}: ${total.n} samples, ${rows.length} series, ${total.chunks} chunks (${total.decimalChunks} decimal)`);
    console.log('series'.padEnd(64), 'samples', 'chosen', 'gorilla', 'timestamps');
    for (const r of rows.sort((a, b) => b.gorilla / b.n - a.gorilla / a.n))
      console.log(r.series.slice(0, 64).padEnd(64), String(r.n).padStart(7), (r.chosen / r.n).toFixed(2).padStart(6), (r.gorilla / r.n).toFixed(2).padStart(7), (r.timestamps / r.n).toFixed(2).padStart(10));
    console.log('TOTAL'.padEnd(64), String(total.n).padStart(7), (total.chosen / total.n).toFixed(2).padStart(6), (total.gorilla / total.n).toFixed(2).padStart(7), (total.timestamps / total.n).toFixed(2).padStart(10));
    console.log('jitter against a 1 s grid:', JSON.stringify(await jitter(db)));
    if (process.env.BENCH_OWN_HOUR !== '0') console.log('an hour of these series on disk:', JSON.stringify(await hourOfOwnSeries(db)));
  }
}

/**
 * Bytes on disk per sample after an hour of a journal's own series: its samples played again through the live
 * history writer (as bench/history.bench.mjs's hour of synthetic series), repeated with their timestamps moved
 * on by the span recorded until an hour is filled, flushed every 10 s; the journal file's size over the samples.
 */
export async function hourOfOwnSeries(db, tree = HERE, hourMs = 3_600_000) {
  // Read with this build (it reads both chunk versions), written with `tree`'s.
  const { mkdtempSync, readdirSync, rmSync, statSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { Journal } = await import(pathToFileURL(join(tree, 'dist/journal/index.js')).href);
  const { FakeClock, silentLogger, canonicalJson } = await import(pathToFileURL(join(tree, 'dist/core/index.js')).href);
  const { History } = await import(pathToFileURL(join(tree, 'dist/telemetry/history.js')).href);
  const all = await seriesSamples(db);
  const t0 = Math.min(...all.map((s) => s.samples[0].t));
  const t1 = Math.max(...all.map((s) => s.samples[s.samples.length - 1].t));
  const span = Math.ceil((t1 - t0 + 1) / 1000) * 1000;
  // Every sample as (t, series), in time order, for as many rounds as fill the hour.
  const one = [];
  all.forEach((s, k) => {
    for (const x of s.samples) one.push({ t: x.t - t0, v: x.v, k });
  });
  one.sort((a, b) => a.t - b.t || a.k - b.k);
  const dir = mkdtempSync(join(tmpdir(), 'waveos-bench-own-hour-'));
  try {
    const start = Date.UTC(2026, 0, 1);
    const clock = new FakeClock(start);
    const j = Journal.openWriter(join(dir, 'waveos.db'), { clock, runId: 'bench', bootId: 'bench' });
    const h = new History({ journal: j, clock, log: silentLogger(), emit: () => undefined, rawRetentionMs: 86_400_000, aggregateRetentionMs: 30 * 86_400_000, quotaBytes: 1e12 });
    const meta = all.map((s, k) => {
      const labels = JSON.parse(s.labels);
      return { key: `s${k}`, name: s.name, type: 'gauge', unit: 'u', labels, labels_json: canonicalJson(labels) };
    });
    let lastFlush = start;
    let batch = [];
    let batchT = start;
    const put = () => {
      if (batch.length > 0) h.capture(batch);
      batch = [];
    };
    for (let round = 0; round * span < hourMs; round++)
      for (const x of one) {
        const t = start + round * span + x.t;
        if (t - start >= hourMs) break;
        if (t !== batchT) {
          put();
          if (t > clock.now()) clock.advance(t - clock.now());
          batchT = t;
          if (t - lastFlush >= 10_000) {
            h.flush();
            lastFlush = t;
          }
        }
        batch.push({ ...meta[x.k], value: x.v, ts_ms: t });
      }
    put();
    h.flush(true);
    const samples = j.sampleCount();
    const fp = j.metricsFootprint();
    j.close();
    const bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    // The pages of the chunks and of the one-minute aggregates (tables and their indexes), per sample.
    const { default: Database } = await import('better-sqlite3');
    const d = new Database(join(dir, 'waveos.db'), { readonly: true });
    const pages = (like) => d.prepare('SELECT COALESCE(SUM(pgsize), 0) AS b FROM dbstat WHERE name LIKE ?').get(like).b / samples;
    const out = { perSample: bytes / samples, chunksPerSample: fp.raw_bytes / fp.raw_samples, chunkPages: pages('chunks%'), aggregatePages: pages('%metrics_1m%'), samples, series: all.length };
    d.close();
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
