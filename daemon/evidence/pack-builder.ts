import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { basename, dirname, join, relative } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { METRICS_CSV_HEADER, type RunMeta, readRunMeta } from '../artifacts/index.js';
import { type CorruptChunkHandler, columnBatches } from '../telemetry/history-query.js';
import { type Chaos, NO_CHAOS, type Paths, fsyncDir, isoUtc } from '../core/index.js';
import { ChainWalker, GENESIS_HASH, type HeadMark, type JournalEvent, type JournalReader, type SeriesRow, canonicalBody, eventLine, highlightOf } from '../journal/index.js';
import { seriesRowParts } from './csv-rows.js';
import { asciiInto, numberInto } from './number-text.js';
import { writeTarGz } from './pack-archive.js';
import { type ExportMeter, STAGE_BUFFER, StagedFile } from './staged-file.js';
import { removeLeftovers, stagingDirOf } from './leftovers.js';
import { type DeviceKey, publicKeyText, sign, verifySignature } from './device-key.js';
import { type FileEntry, MANIFEST_FILE, MANIFEST_FORMAT, MANIFEST_SCHEMA_VERSION, type Manifest, SIGNATURE_FILE, type Trigger, packName } from './manifest.js';
import { Redactor, literalsFromEnv, secretLiterals } from '../security/redaction.js';
import { type ReportData, type ReportEvent, type ReportSeries, writeReport } from './report.js';
import { type CompactSpan, type WaterfallRow, waterfalls } from '../tracing/index.js';

const EVENT_PAGE = 250;
/** The longest the export holds the event loop between yields, and how many rows pass between clock checks. */
const LOOP_BUDGET_MS = 10;
const ROWS_PER_CHECK = 128;

/** Yields to the event loop once LOOP_BUDGET_MS of work has passed since the last yield (checked every ROWS_PER_CHECK rows). */
class LoopBudget {
  private since = performance.now();
  private rows = 0;

  /** Counts one row; true when the caller should yield now. */
  row(): boolean {
    if (++this.rows < ROWS_PER_CHECK) return false;
    this.rows = 0;
    return performance.now() - this.since >= LOOP_BUDGET_MS;
  }

  /** True once the budget is spent, whatever the row count (between pages). */
  due(): boolean {
    return performance.now() - this.since >= LOOP_BUDGET_MS;
  }

  async yield(): Promise<void> {
    await yieldLoop();
    this.since = performance.now();
    this.rows = 0;
  }
}
/** Sample ids scanned per query: bounds how long one query holds the loop. */
const CHART_BUCKETS = 600;
const MAX_CHART_SERIES = 200;
const REPORT_IMPORTANT_EVENTS = 5_000;
const REPORT_OTHER_EVENTS = 2_000;
const MAX_MARKERS = 400;
const BUNDLE_HISTORY = 1_000;

export interface PackSource {
  /** The journal to read; `flush` (the daemon's writer has it) commits what is queued first. */
  journal: JournalReader & { flush?: () => void };
  paths: Paths;
  key: DeviceKey;
  device: { device_id: string; app_id: string; environment: string };
  waveos: Record<string, unknown> & { version: string };
  runId: string;
  /** The effective config; it is redacted before it goes in. */
  config: unknown;
  configFile?: string | undefined;
  /** Every policy file in force and every one on disk that is not, each with the folder it came from. */
  policyFiles: () => PolicyFileCopy[];
  /** Told of each metric chunk that fails its check (the daemon records a telemetry.chunk_corrupt event). */
  onCorruptChunk?: CorruptChunkHandler;
  /** Writes out what is still buffered in memory (metric samples) before the pack reads the journal. */
  flushBuffered?: () => void;
  env: NodeJS.ProcessEnv;
  systemFacts: () => Promise<Record<string, unknown>>;
  /** The gzip level of the pack (1 fastest .. 9 smallest); 1 by default: on a board CPU is scarcer than bytes. */
  gzipLevel?: number;
  /** Told how much the export buffers at each place (test rigs only: memory bounds asserted by bytes, not time). */
  meter?: ExportMeter;
  /** Failure injection once the archive is written, before it is committed (test rigs only). */
  chaos?: Chaos;
  /** The values of the config's resolved secrets: masked wherever they appear, whatever carries them. */
  secretValues?: () => readonly string[];
  /** The daemon's one redactor (its secrets and the operator's patterns); the pack adds its own env and config literals. */
  redactor?: Redactor;
}

/** A policy file for the pack: its text, the folder it came from, and whether that text is in force. */
export interface PolicyFileCopy {
  /** Where the daemon read it. */
  file: string;
  /** In force: the text in force (a refused file's last good version). Not in force: the file's bytes on disk. */
  text: string;
  /**
   * The folder's place under `config/policies/` in the pack: '' for etc/waveos/policies.d, `examples` for the
   * repo's bundled examples, `extra/<absolute folder>` for policy.extra_dirs, `bundles/<name>` for a policy bundle.
   */
  origin: string;
  /** False for a file on disk whose bytes are not in force (refused, overridden, not loaded yet). */
  inForce: boolean;
}

export interface PackRequest {
  sinceMs: number;
  untilMs: number;
  reason: string;
  trigger: Trigger;
  requestedBy: string;
  incident?: Record<string, unknown> | null;
  /** When the pack is made (file name and manifest). */
  nowMs: number;
}

export interface BuiltPack {
  name: string;
  file: string;
  bytes: number;
  sha256: string;
  manifest: Manifest;
  ms: number;
}

/** A pass-through that hashes and counts: for files copied by streams. */
function hashing(): { t: Transform; done: () => { size: number; sha256: string } } {
  const h = createHash('sha256');
  let size = 0;
  const t = new Transform({
    transform(chunk: Buffer, _e, cb: TransformCallback) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  return { t, done: () => ({ size, sha256: h.digest('hex') }) };
}

function compactData(data: Record<string, unknown>): string {
  const s = JSON.stringify(data);
  return s.length > 400 ? `${s.slice(0, 400)}…` : s;
}

/** Policy decisions and recovery actions are what a field engineer looks for first: the event catalogue flags them. */
export { highlightOf };

const SEVERITY_RANK: Record<string, number> = { info: 0, notice: 1, warning: 2, error: 3, critical: 4 };

interface SeriesAcc {
  name: string;
  unit: string;
  labels: string;
  sum: Float64Array;
  count: Uint32Array;
  max: Float64Array;
}

/** Spool files of one source that hold lines of the window: a file spans from the previous file's mtime to its own. */
export function spoolFilesInWindow(dir: string, sinceMs: number, untilMs: number): { file: string; mtimeMs: number; size: number }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const files = names
    .map((n) => {
      try {
        const st = statSync(join(dir, n));
        return st.isFile() ? { file: join(dir, n), mtimeMs: st.mtimeMs, size: st.size } : undefined;
      } catch {
        return undefined;
      }
    })
    .filter((f): f is { file: string; mtimeMs: number; size: number } => f !== undefined)
    .sort((a, b) => a.mtimeMs - b.mtimeMs || a.file.localeCompare(b.file));
  return files.filter((f, i) => f.mtimeMs >= sinceMs && (i === 0 || (files[i - 1] as { mtimeMs: number }).mtimeMs <= untilMs));
}

export { removeLeftovers, stagingDirOf };

function uniqueName(dir: string, name: string): string {
  if (!existsSync(join(dir, name))) return name;
  for (let i = 2; ; i++) {
    const n = name.replace(/\.tar\.gz$/, `-${i}.tar.gz`);
    if (!existsSync(join(dir, n))) return n;
  }
}

/** The staging folder of one export, with what is written there so far and the notes for the manifest. */
interface Stage {
  dir: string;
  files: FileEntry[];
  notes: string[];
  /** The export's one staging buffer: each staged file encodes into it in turn, then the archive reads through it. */
  buf: Buffer;
  meter: ExportMeter | undefined;
}

/** The newest `cap` seqs pushed, in a fixed ring: no object per event kept for the report. */
class SeqRing {
  private readonly seqs: Float64Array;
  pushed = 0;

  constructor(readonly cap: number) {
    this.seqs = new Float64Array(cap);
  }

  push(seq: number): void {
    this.seqs[this.pushed++ % this.cap] = seq;
  }

  /** The seqs kept, oldest first. */
  kept(): number[] {
    const n = Math.min(this.pushed, this.cap);
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = this.seqs[(this.pushed - n + i) % this.cap] as number;
    return out;
  }
}

function reportEvent(e: JournalEvent): ReportEvent {
  return { seq: e.seq, ts: e.ts, severity: e.severity, kind: e.kind, source: e.source, reason: e.reason, data: compactData(e.data), hl: highlightOf(e.kind) };
}

/**
 * The report's share of the events: counts, and the seqs of the newest important and other events, bounded.
 * Only the seqs are kept while the window is read; the few thousand events the report lists are read again
 * at the end (`listed`), so no event of the window lives long enough to be promoted and left for a full GC.
 */
class ReportEvents {
  readonly runs = new Set<string>();
  readonly severityCounts: Record<string, number> = {};
  readonly kindCounts = new Map<string, number>();
  readonly markers: ReportEvent[] = [];
  private readonly important = new SeqRing(REPORT_IMPORTANT_EVENTS);
  private readonly other = new SeqRing(REPORT_OTHER_EVENTS);

  /** Finished spans of `trace.spans` events, newest kept (the report's action waterfalls). */
  readonly spans: CompactSpan[] = [];

  add(e: JournalEvent): void {
    if (e.kind === 'trace.spans' && Array.isArray(e.data.spans)) {
      this.spans.push(...(e.data.spans as CompactSpan[]));
      if (this.spans.length > 2 * REPORT_SPANS) this.spans.splice(0, this.spans.length - REPORT_SPANS);
    }
    this.runs.add(e.run_id);
    this.severityCounts[e.severity] = (this.severityCounts[e.severity] ?? 0) + 1;
    this.kindCounts.set(e.kind, (this.kindCounts.get(e.kind) ?? 0) + 1);
    const hl = highlightOf(e.kind);
    const rank = SEVERITY_RANK[e.severity] ?? 0;
    if (hl || rank >= 1) this.important.push(e.seq);
    else this.other.push(e.seq);
    if ((hl || rank >= 2) && this.markers.length < MAX_MARKERS) this.markers.push(reportEvent(e));
  }

  /**
   * The events the report lists, in seq order, and how many it leaves out: the newest of each kind (an
   * incident is usually at the end of its window), read back from the journal in runs of nearby seqs.
   */
  async listed(journal: JournalReader, budget: LoopBudget): Promise<{ events: ReportEvent[]; omitted: number }> {
    const want = [...this.important.kept(), ...this.other.kept()].sort((a, b) => a - b);
    const events: ReportEvent[] = [];
    for (let i = 0; i < want.length; ) {
      const first = want[i] as number;
      // One page covers the seqs up to EVENT_PAGE past the first; the window's seqs are contiguous.
      const page = journal.eventPage(first - 1, Math.min(EVENT_PAGE, (want[want.length - 1] as number) - first + 1));
      let reached = first;
      for (const e of page) {
        while (i < want.length && (want[i] as number) < e.seq) i++;
        if (i >= want.length) break;
        if (want[i] === e.seq) {
          events.push(reportEvent(e));
          i++;
        }
        reached = e.seq;
        // Past a long run of events not wanted: the next read starts at the next wanted seq.
        if (i < want.length && (want[i] as number) - reached > 64) break;
      }
      // Seqs the journal no longer holds (removed since) are skipped.
      while (i < want.length && (want[i] as number) <= reached) i++;
      if (page.length === 0) break;
      if (budget.due()) await budget.yield();
    }
    return { events, omitted: this.important.pushed + this.other.pushed - events.length };
  }
}

interface EventsSection {
  range: { first: number; last: number } | undefined;
  count: number;
  anchor: { prevHash: string; seq: number } | undefined;
  lastHash: string | null;
  chainOk: boolean;
  chainProblem: string | undefined;
  report: ReportEvents;
  /** The journal's head mark at export time. */
  head: HeadMark;
}

/** events.jsonl: a contiguous stretch of the chain, checked as it is written with the journal's own chain check. */
async function writeEvents(src: PackSource, stage: Stage, sinceTs: string, untilTs: string): Promise<EventsSection> {
  const events = new StagedFile(stage.dir, 'events.jsonl', stage.buf, stage.meter);
  const range = src.journal.seqWindow(sinceTs, untilTs);
  const chain = new ChainWalker('first');
  const report = new ReportEvents();
  const budget = new LoopBudget();
  let lastHash: string | null = null;
  let count = 0;
  if (range) {
    let after = range.first - 1;
    while (after < range.last) {
      const page = src.journal.eventPage(after, Math.min(EVENT_PAGE, range.last - after));
      if (page.length === 0) break;
      for (const e of page) {
        const { prev_hash, hash, ...body } = e;
        // Made once: the chain check hashes the same text the line carries.
        const canonical = canonicalBody(body);
        chain.push(e, canonical);
        after = e.seq;
        // Each line goes straight into the staging buffer: no text of many lines is built up.
        const line = eventLine(canonical, prev_hash, hash);
        if (!events.tryWrite(line)) await events.write(line);
        report.add(e);
        lastHash = hash;
        if (budget.row()) await budget.yield();
      }
      count += page.length;
      await budget.yield();
    }
  }
  stage.files.push(await events.close());
  const broken = chain.report().broken;
  const chainProblem = broken ? `seq ${broken.seq}: ${broken.problem}` : undefined;
  if (broken) stage.notes.push(`the hash chain did not verify at export time: ${chainProblem}`);
  // Read after the window: the mark only moves forward, so it is at or past the window's last event.
  const head = src.journal.headMark() ?? { seq: range?.last ?? 0, hash: lastHash ?? GENESIS_HASH };
  return { range, count, anchor: chain.anchor, lastHash, chainOk: chain.ok, chainProblem, report, head };
}

interface MetricsSection {
  samples: number;
  series: Map<string, SeriesAcc>;
  chartDropped: number;
  bucketMs: number;
  nBuckets: number;
}

/** The longest text String() gives a number: "-1.2345678901234567e-308" and the like. */
const MAX_NUMBER_TEXT = 32;

/** The chart's per-bucket sums, counts and maxima of one series (null: past MAX_CHART_SERIES, not charted). */
function newAcc(s: SeriesRow, nBuckets: number): SeriesAcc {
  return { name: s.name, unit: s.unit, labels: s.labels, sum: new Float64Array(nBuckets), count: new Uint32Array(nBuckets), max: new Float64Array(nBuckets).fill(-Infinity) };
}

/**
 * metrics.csv, and the chart summary in the same pass, from the reader's column batches: no object per
 * sample, each series' fixed text made once, rows written in large pieces.
 */
async function writeMetrics(src: PackSource, stage: Stage, req: PackRequest): Promise<MetricsSection> {
  const metrics = new StagedFile(stage.dir, 'metrics.csv', stage.buf, stage.meter);
  await metrics.write(METRICS_CSV_HEADER);
  const bucketMs = Math.max(1_000, Math.ceil((req.untilMs - req.sinceMs + 1) / CHART_BUCKETS));
  const nBuckets = Math.max(1, Math.ceil((req.untilMs - req.sinceMs + 1) / bucketMs));
  const series = new Map<string, SeriesAcc>();
  let samples = 0;
  let chartDropped = 0;
  let corrupt = 0;
  const onCorrupt: CorruptChunkHandler = (c) => {
    corrupt++;
    src.onCorruptChunk?.(c);
  };
  // By the batch's series index: the row's bytes around the value, the room a row may need, and the chart
  // accumulator (null: not charted).
  const heads: Buffer[] = [];
  const tails: Buffer[] = [];
  const rooms: number[] = [];
  const accs: (SeriesAcc | null)[] = [];
  let lastTs = Number.NaN;
  // The current timestamp's ISO text as bytes (24, or 27 for years past 9999).
  const iso = new Uint8Array(32);
  let isoLen = 0;
  const buf = metrics.buf;
  const budget = new LoopBudget();
  // One time slice at a time, yielding inside and between them: the loop keeps turning and memory stays
  // bounded by the slice, whatever the window.
  for (const c of columnBatches(src.journal, { sinceMs: req.sinceMs, untilMs: req.untilMs, onCorrupt })) {
    for (let i = 0; i < c.n; i++) {
      const k = c.s[i] as number;
      let head = heads[k];
      if (head === undefined) {
        const s = c.series[k] as SeriesRow;
        const p = seriesRowParts(s);
        head = heads[k] = Buffer.from(p.head);
        tails[k] = Buffer.from(p.tail);
        rooms[k] = iso.length + head.length + MAX_NUMBER_TEXT + (tails[k] as Buffer).length;
        // Series that differ only by unit share a chart line, as they share a key.
        const key = `${s.name}\u0000${s.labels}`;
        let acc = series.get(key) ?? null;
        if (!acc && series.size < MAX_CHART_SERIES) series.set(key, (acc = newAcc(s, nBuckets)));
        accs[k] = acc;
      }
      const t = c.t[i] as number;
      const v = c.v[i] as number;
      if (t !== lastTs) {
        lastTs = t;
        isoLen = asciiInto(new Date(t).toISOString(), iso, 0);
      }
      // The row is encoded in place, the same text as sampleRow: ts,metric,value,unit,labels; no string per row.
      if (metrics.free < (rooms[k] as number)) await metrics.flush();
      let o = metrics.used;
      for (let j = 0; j < isoLen; j++) buf[o++] = iso[j] as number;
      for (let j = 0; j < head.length; j++) buf[o++] = head[j] as number;
      o = numberInto(v, buf, o);
      const tail = tails[k] as Buffer;
      for (let j = 0; j < tail.length; j++) buf[o++] = tail[j] as number;
      metrics.used = o;
      const acc = accs[k];
      if (acc) {
        const b = Math.min(nBuckets - 1, Math.floor((t - req.sinceMs) / bucketMs));
        acc.sum[b] = (acc.sum[b] as number) + v;
        acc.count[b] = (acc.count[b] as number) + 1;
        if (v > (acc.max[b] as number)) acc.max[b] = v;
      } else chartDropped++;
      if (budget.row()) await budget.yield();
    }
    samples += c.n;
    if (budget.due()) await budget.yield();
  }
  if (corrupt > 0) stage.notes.push(`${corrupt} metric chunk(s) failed their checksum and were left out of metrics.csv (telemetry.chunk_corrupt events)`);
  stage.files.push(await metrics.close());
  if (chartDropped > 0) stage.notes.push(`the report charts show the first ${MAX_CHART_SERIES} series; metrics.csv holds all`);
  return { samples, series, chartDropped, bucketMs, nBuckets };
}

/** runs/: run_meta.json of the current (or newest) run, and of every run in the window. */
async function writeRuns(src: PackSource, stage: Stage, runs: Set<string>): Promise<{ runIds: string[]; metas: RunMeta[] }> {
  const runIds = [...new Set([...runs, src.runId])].sort();
  const metas: RunMeta[] = [];
  for (const id of runIds) {
    const meta = readRunMeta(src.paths, id);
    if (!meta) {
      stage.notes.push(`run ${id}: its run_meta.json is no longer on the device (pruned)`);
      continue;
    }
    metas.push(meta);
    stage.files.push(await stageText(stage, `runs/${id}/run_meta.json`, `${JSON.stringify(meta, null, 2)}\n`));
  }
  const newest = metas.find((m) => m.run_id === src.runId) ?? metas[metas.length - 1];
  stage.files.push(await stageText(stage, 'run_meta.json', `${JSON.stringify(newest ?? null, null, 2)}\n`));
  return { runIds, metas };
}

type BundleRecord = Pick<JournalEvent, 'seq' | 'ts' | 'kind' | 'severity' | 'source' | 'reason'> & { data: unknown };

/** bundles.json: the install history, all of it (it is short). */
async function writeBundles(src: PackSource, stage: Stage, redactor: Redactor): Promise<BundleRecord[]> {
  const bundleEvents: JournalEvent[] = [];
  for (const e of src.journal.iterateEvents({ kindPrefix: 'bundle.' })) {
    bundleEvents.push(e);
    if (bundleEvents.length >= 2 * BUNDLE_HISTORY) bundleEvents.splice(0, bundleEvents.length - BUNDLE_HISTORY);
  }
  if (bundleEvents.length > BUNDLE_HISTORY) bundleEvents.splice(0, bundleEvents.length - BUNDLE_HISTORY);
  const bundles = bundleEvents.map((e) => ({ seq: e.seq, ts: e.ts, kind: e.kind, severity: e.severity, source: e.source, reason: e.reason, data: redactor.value(e.data) }));
  stage.files.push(await stageText(stage, 'bundles.json', `${JSON.stringify(bundles, null, 2)}\n`));
  return bundles;
}

/** config/: effective config and policies, secrets masked. */
async function writeConfig(src: PackSource, stage: Stage, redactor: Redactor): Promise<void> {
  stage.files.push(await stageText(stage, 'config/effective.json', `${JSON.stringify(redactor.value(src.config), null, 2)}\n`));
  if (src.configFile && existsSync(src.configFile)) {
    stage.files.push(await stageText(stage, `config/${basename(src.configFile)}`, redactor.text(readFileSync(src.configFile, 'utf8'))));
  }
  await writePolicies(src, stage, redactor);
}

/**
 * config/policies/: every policy file in force under the folder it came from, the files on disk that are not
 * in force under config/policies/not-in-force/, and config/policies/index.json naming, for each, the path in
 * the pack, where it was read, which folder that is and whether it is in force.
 */
async function writePolicies(src: PackSource, stage: Stage, redactor: Redactor): Promise<void> {
  const index: { path: string; source: string; origin: string; in_force: boolean }[] = [];
  for (const p of src.policyFiles()) {
    const path = `config/policies/${p.inForce ? '' : 'not-in-force/'}${p.origin ? `${p.origin}/` : ''}${basename(p.file)}`;
    if (index.some((i) => i.path === path)) {
      stage.notes.push(`policy file ${p.file} would overwrite ${path} in the pack; it is left out`);
      continue;
    }
    stage.files.push(await stageText(stage, path, redactor.text(p.text)));
    index.push({ path, source: p.file, origin: originLabel(p.origin), in_force: p.inForce });
  }
  stage.files.push(await stageText(stage, 'config/policies/index.json', `${JSON.stringify(index, null, 2)}\n`));
}

function originLabel(origin: string): string {
  if (origin === '') return 'policies.d';
  if (origin.startsWith('extra/')) return 'policy.extra_dirs';
  if (origin.startsWith('bundles/')) return 'policy bundle';
  return origin;
}

/** logs/: spooled files that cover the window, per source, through the redactor. */
async function writeLogs(src: PackSource, stage: Stage, req: PackRequest, redactor: Redactor): Promise<{ source: string; files: string[] }[]> {
  const logs: { source: string; files: string[] }[] = [];
  let sources: string[] = [];
  try {
    sources = readdirSync(src.paths.spoolDir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch {
    stage.notes.push('no spool folder: no logs in this pack');
  }
  for (const source of sources) {
    const picked = spoolFilesInWindow(join(src.paths.spoolDir, source), req.sinceMs, req.untilMs);
    if (picked.length === 0) continue;
    const names: string[] = [];
    for (const f of picked) {
      stage.files.push(await copyLog(stage, `logs/${source}/${basename(f.file)}`, f, redactor));
      names.push(basename(f.file));
    }
    logs.push({ source, files: names });
  }
  return logs;
}

/** One spool file into the pack through the redactor (gunzipped and gzipped again when it is compressed). */
async function copyLog(stage: Stage, rel: string, f: { file: string; size: number }, redactor: Redactor): Promise<FileEntry> {
  const full = join(stage.dir, rel);
  mkdirSync(dirname(full), { recursive: true, mode: 0o750 });
  if (f.size === 0) return stageText(stage, rel, '');
  const h = hashing();
  // Only what the file held when it was listed: an active file keeps growing while it is copied.
  const read = createReadStream(f.file, { start: 0, end: f.size - 1 });
  if (f.file.endsWith('.gz')) {
    await pipeline(read, createGunzip(), redactor.lines(), createGzip(), h.t, createWriteStream(full, { mode: 0o640 }));
  } else {
    await pipeline(read, redactor.lines(), h.t, createWriteStream(full, { mode: 0o640 }));
  }
  return { path: rel, ...h.done() };
}

const REPORT_SPANS = 2_000;
const REPORT_TRACES = 20;

/** The newest traces that hold an executor action, each as a waterfall, for the report's "Action traces". */
function actionWaterfalls(spans: readonly CompactSpan[]): WaterfallRow[][] {
  return waterfalls(spans.slice(-REPORT_SPANS))
    .filter((rows) => rows.some((r) => r.span.n.startsWith('action ')))
    .slice(-REPORT_TRACES);
}

/** What the report and the manifest are made from. */
interface PackParts {
  name: string;
  sinceTs: string;
  untilTs: string;
  events: EventsSection;
  metrics: MetricsSection;
  runIds: string[];
  metas: RunMeta[];
  bundles: BundleRecord[];
  logs: { source: string; files: string[] }[];
}

function chartSeriesOf(series: Map<string, SeriesAcc>): ReportSeries[] {
  return [...series.values()].map((a) => ({
    name: a.name,
    unit: a.unit,
    labels: Object.entries(JSON.parse(a.labels) as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(','),
    avg: Array.from(a.sum, (s, i) => ((a.count[i] as number) > 0 ? Number((s / (a.count[i] as number)).toPrecision(6)) : null)),
    max: Array.from(a.max, (m) => (Number.isFinite(m) ? Number(m.toPrecision(6)) : null)),
  }));
}

/** What the report and the manifest both open with: which pack, why, who asked, and the window. */
function packHeader(req: PackRequest, p: PackParts): Pick<Manifest, 'name' | 'created_at' | 'reason' | 'trigger' | 'requested_by' | 'incident' | 'window'> {
  return { name: p.name, created_at: isoUtc(req.nowMs), reason: req.reason, trigger: req.trigger, requested_by: req.requestedBy, incident: req.incident ?? null, window: { since: p.sinceTs, until: p.untilTs } };
}

/** report.html: the summary a person reads, with the files written so far. */
async function writeReportFile(src: PackSource, req: PackRequest, stage: Stage, p: PackParts): Promise<void> {
  const probe = Buffer.from(`waveos evidence key self-test ${p.name}`);
  const keySelfTest = verifySignature(src.key.publicKey, probe, sign(src.key, probe));
  const { events: ev, metrics: mx } = p;
  const listed = await ev.report.listed(src.journal, new LoopBudget());
  const data: ReportData = {
    ...packHeader(req, p),
    device: { ...src.device, key_id: src.key.keyId },
    waveos: src.waveos,
    runs: p.metas.map((m) => ({ run_id: m.run_id, started_at: m.started_at, waveos_version: m.waveos_version, boot_id: m.boot_id, previous_run: m.previous_run })),
    verification: {
      chain_ok: ev.chainOk,
      chain_problem: ev.chainProblem ?? null,
      events: ev.count,
      first_seq: ev.range ? ev.range.first : null,
      last_seq: ev.range ? ev.range.last : null,
      key_id: src.key.keyId,
      key_self_test: keySelfTest,
    },
    counts: { severity: ev.report.severityCounts, kinds: [...ev.report.kindCounts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30), samples: mx.samples, series: mx.series.size },
    chart: { start_ms: req.sinceMs, bucket_ms: mx.bucketMs, buckets: mx.nBuckets, series: chartSeriesOf(mx.series) },
    markers: ev.report.markers,
    events: listed.events,
    events_omitted: listed.omitted,
    traces: actionWaterfalls(ev.report.spans),
    bundles: p.bundles.map((b) => ({ ts: b.ts, kind: b.kind, severity: b.severity, reason: b.reason, data: compactData(b.data as Record<string, unknown>) })),
    logs: p.logs,
    files: stage.files.map((f) => ({ path: f.path, size: f.size })),
    notes: stage.notes,
  };
  const report = new StagedFile(stage.dir, 'report.html', stage.buf, stage.meter);
  await writeReport(data, (s) => report.write(s));
  stage.files.push(await report.close());
}

/** MANIFEST.json, listing every file written, and MANIFEST.sig over its exact bytes. */
async function writeManifest(src: PackSource, req: PackRequest, stage: Stage, p: PackParts): Promise<Manifest> {
  const ev = p.events;
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    schema_version: MANIFEST_SCHEMA_VERSION,
    ...packHeader(req, p),
    device: { ...src.device, public_key: src.key.publicKeyB64, key_id: src.key.keyId },
    waveos: src.waveos,
    run_id: src.runId,
    runs: p.runIds,
    journal: {
      events: ev.count,
      first_seq: ev.range ? ev.range.first : null,
      last_seq: ev.range ? ev.range.last : null,
      anchor_prev_hash: ev.anchor?.prevHash ?? null,
      last_hash: ev.lastHash,
      chain_verified: ev.chainOk,
      head_seq: ev.head.seq,
      head_hash: ev.head.hash,
    },
    metrics: { samples: p.metrics.samples, series: p.metrics.series.size + p.metrics.chartDropped },
    logs: p.logs,
    files: stage.files.sort((a, b) => a.path.localeCompare(b.path)),
    notes: stage.notes,
  };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  await stageBytes(stage, MANIFEST_FILE, manifestBytes);
  await stageBytes(stage, SIGNATURE_FILE, Buffer.from(`${Buffer.from(sign(src.key, manifestBytes)).toString('base64')}\n`));
  return manifest;
}

/** The staging folder into a gzip'd tar at `partial`, fsynced, then renamed to `file`: returns its size and sha256. */
async function writeArchive(src: PackSource, req: PackRequest, stage: Stage, order: string[], partial: string, file: string): Promise<{ size: number; sha256: string }> {
  // Node's own gzip stream compresses on the thread pool, off the main loop.
  const sum = await writeTarGz(stage.dir, order, partial, { mtime: new Date(req.nowMs), level: src.gzipLevel ?? 1, buf: stage.buf, meter: stage.meter });
  await (src.chaos ?? NO_CHAOS).checkAsync('evidence.write');
  renameSync(partial, file);
  fsyncDir(dirname(file));
  return sum;
}

/**
 * Builds one pack: every part is streamed into a staging folder (hashed as it is written), the manifest
 * lists them and is signed, then the folder is streamed into a gzip'd tar beside it, fsynced and renamed
 * into place. Nothing is held whole in memory but the report's bounded summary; the loop is yielded
 * between pages so the daemon's timers (the watchdog) keep running.
 */
export async function buildPack(src: PackSource, request: PackRequest, outDir = src.paths.evidenceDir): Promise<BuiltPack> {
  const t0 = performance.now();
  const redactor = (src.redactor ?? new Redactor()).withLiterals([...literalsFromEnv(src.env), ...secretLiterals(src.config), ...(src.secretValues?.() ?? [])]);
  // the reason names the file and goes into the manifest and the report
  const req: PackRequest = { ...request, reason: redactor.text(request.reason), incident: request.incident ? (redactor.value(request.incident) as Record<string, unknown>) : request.incident };
  mkdirSync(outDir, { recursive: true, mode: 0o750 });
  const name = uniqueName(outDir, packName(src.device.device_id, req.nowMs, req.reason));
  const staging = stagingDirOf(src.paths, name);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true, mode: 0o750 });
  const partial = join(outDir, `${name}.partial`);
  try {
    // One buffer for the whole export, allocated once: every staged file and then the archive go through it.
    const buf = Buffer.allocUnsafe(STAGE_BUFFER);
    src.meter?.allocated?.(buf.length);
    const stage: Stage = { dir: staging, files: [], notes: [], buf, meter: src.meter };
    const sinceTs = isoUtc(req.sinceMs);
    const untilTs = isoUtc(req.untilMs);
    // Samples taken up to the request may still be in memory (telemetry writes them every flush interval).
    src.flushBuffered?.();
    src.journal.flush?.();
    const events = await writeEvents(src, stage, sinceTs, untilTs);
    const metrics = await writeMetrics(src, stage, req);
    const { runIds, metas } = await writeRuns(src, stage, events.report.runs);
    const bundles = await writeBundles(src, stage, redactor);
    await writeConfig(src, stage, redactor);
    const logs = await writeLogs(src, stage, req, redactor);
    stage.files.push(await stageText(stage, 'system.json', `${JSON.stringify(redactor.value(await src.systemFacts()), null, 2)}\n`));
    // The key to enrol, so a pack is checkable from itself.
    stage.files.push(await stageText(stage, 'device.pub', publicKeyText(src.key, src.device.device_id)));
    const parts: PackParts = { name, sinceTs, untilTs, events, metrics, runIds, metas, bundles, logs };
    await writeReportFile(src, req, stage, parts);
    const manifest = await writeManifest(src, req, stage, parts);
    const file = join(outDir, name);
    const sum = await writeArchive(src, req, stage, [MANIFEST_FILE, SIGNATURE_FILE, ...manifest.files.map((f) => f.path)], partial, file);
    return { name, file, bytes: sum.size, sha256: sum.sha256, manifest, ms: Math.round(performance.now() - t0) };
  } finally {
    rmSync(staging, { recursive: true, force: true });
    rmSync(partial, { force: true });
  }
}

async function stageText(stage: Stage, path: string, text: string): Promise<FileEntry> {
  const f = new StagedFile(stage.dir, path, stage.buf, stage.meter);
  await f.write(text);
  return f.close();
}

async function stageBytes(stage: Stage, path: string, bytes: Buffer): Promise<void> {
  const f = new StagedFile(stage.dir, path, stage.buf, stage.meter);
  await f.write(bytes);
  await f.close();
}

export function relativeToRoot(paths: Paths, file: string): string {
  return relative(paths.root, file);
}
