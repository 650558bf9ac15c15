import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, lstatSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type Chaos, type Lifecycle, type Logger, NO_CHAOS, type Paths, errorMessage, trimTornTail } from '../core/index.js';
import { ARTIFACTS_CURSOR_KEY, type ExportCursor, type Journal, canonicalBody, eventLine } from '../journal/index.js';
import { canonicalJson } from '../core/index.js';
import { reportCorruptOnce } from '../telemetry/history-query.js';
import { METRICS_CSV_HEADER, sampleRow } from './csv.js';
import { MetricExport } from './metric-export.js';
import { runDir } from './run-meta.js';

const CHUNK = 5_000;
/** Longest the committed cursor lags the files when only samples went out (see exportPass). */
const CURSOR_COMMIT_MS = 60_000;

export interface ExporterDeps {
  journal: Journal;
  paths: Paths;
  log: Logger;
  runId: string;
  flushIntervalMs: number;
  keepRuns: number;
  maxBytes: number;
  /** live: metrics.csv is appended to every pass; at_stop: only at stop (and by the next start's recovery). */
  metricsCsv?: 'live' | 'at_stop';
  /** Failure injection at each append (test rigs only). */
  chaos?: Chaos;
}

export interface ExportResult {
  events: number;
  samples: number;
}

function appendAndSync(file: string, text: string, chaos: Chaos): number {
  const fd = openSync(file, 'a', 0o640);
  try {
    const buf = Buffer.from(text);
    let off = 0;
    try {
      chaos.check('artifacts.write');
    } catch (e) {
      // An injected failure tears the write as a real one can: half of it reaches the file.
      writeSync(fd, buf, 0, buf.length >> 1);
      throw e;
    }
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

/** Cuts a file back to `size` after a failed append, so the next pass does not write after a torn line. */
function truncateTo(file: string, size: number): void {
  const fd = openSync(file, 'r+');
  try {
    if (fstatSync(fd).size > size) {
      ftruncateSync(fd, size);
      fsyncSync(fd);
    }
  } finally {
    closeSync(fd);
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function dirSize(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const st = lstatSync(join(dir, name));
    total += st.isDirectory() ? dirSize(join(dir, name)) : st.size;
  }
  return total;
}

export class ArtifactExporter implements Lifecycle {
  readonly name = 'artifacts';
  private timer: NodeJS.Timeout | undefined;
  /**
   * Where export stands: the last event seq and metric id written out, and the size each file had when the
   * cursor was committed. A file longer than its recorded size holds lines written before a crash whose
   * cursor never committed: start-up cuts it back to the recorded size and exports those lines again.
   */
  private cursor: ExportCursor;
  /** Where this run's events and samples begin in the journal: what a rebuilt folder is exported from. */
  private readonly runStartSeq: number;
  private readonly runStartChunkId: number;
  private readonly metricExport: MetricExport;
  private rewriteRunMeta: (() => void) | undefined;
  /** When the cursor was last committed (monotonic ms), and whether it moved since. */
  private cursorCommittedAt = -Infinity;
  private cursorDirty = false;

  constructor(private readonly deps: ExporterDeps) {
    this.cursor = deps.journal.readState(ARTIFACTS_CURSOR_KEY) ?? { events_seq: 0, metrics_id: 0, files: {} };
    this.runStartSeq = deps.journal.lastSeq();
    this.runStartChunkId = deps.journal.lastChunkId();
    this.metricExport = new MetricExport(deps.journal, reportCorruptOnce((e) => deps.journal.append(e)));
  }

  /** How run_meta.json and the `latest` link are written again when the run's folder went missing. */
  attachRunMeta(rewrite: () => void): void {
    this.rewriteRunMeta = rewrite;
  }

  /**
   * The run's folder (or files in it) deleted while running: rebuilt from the journal — run_meta.json and
   * `latest`, events.jsonl with this run's exported events, metrics.csv with its header and samples — and
   * said in an event. Returns what was missing.
   */
  private rebuildIfMissing(): string[] {
    // Armed once the run's run_meta.json is written (attachRunMeta): before that there is nothing to have lost.
    if (!this.rewriteRunMeta) return [];
    const { paths, runId, journal } = this.deps;
    const dir = runDir(paths, runId);
    // events.jsonl counts as missing only once it was written: before the first pass it does not exist yet.
    const expected = ['run_meta.json', 'metrics.csv', ...(this.cursor.files[`${runId}/events.jsonl`] === undefined ? [] : ['events.jsonl'])];
    const missing = expected.filter((f) => !existsSync(join(dir, f)));
    if (!existsSync(paths.artifactsLatest)) missing.push('latest');
    if (missing.length === 0) return missing;
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    if (missing.includes('run_meta.json') || missing.includes('latest')) this.rewriteRunMeta?.();
    let events = 0;
    let samples = 0;
    if (missing.includes('events.jsonl')) {
      const lines: string[] = [];
      for (const e of journal.iterateEvents({ afterSeq: this.runStartSeq })) {
        if (e.seq > this.cursor.events_seq) break;
        if (e.run_id !== runId) continue;
        const { prev_hash, hash, ...body } = e;
        lines.push(eventLine(canonicalBody(body, canonicalJson(e.data)), prev_hash, hash));
      }
      this.cursor.files[`${runId}/events.jsonl`] = appendAndSync(join(dir, 'events.jsonl'), lines.join(''), NO_CHAOS);
      events = lines.length;
    }
    if (missing.includes('metrics.csv')) {
      const rows = this.metricExport.exported(this.runStartChunkId, this.cursor);
      const text = METRICS_CSV_HEADER + rows.map(sampleRow).join('');
      samples = rows.length;
      this.cursor.files[`${runId}/metrics.csv`] = appendAndSync(join(dir, 'metrics.csv'), text, NO_CHAOS);
    }
    journal.writeState(ARTIFACTS_CURSOR_KEY, this.cursor);
    this.deps.log.warn({ missing }, 'the artifacts of this run went missing; rebuilt from the journal');
    journal.append({
      kind: 'artifacts.rebuilt',
      severity: 'warning',
      source: 'artifacts',
      reason: `this run's artifacts were missing (${missing.join(', ')}: deleted while WaveOS ran) and were rebuilt from the journal: ${events} events, ${samples} samples`,
      data: { run_id: runId, missing, events, samples },
    });
    return missing;
  }

  /**
   * Crash-only repair, run before anything new is exported: cut every file back to the size its committed
   * cursor recorded (so no line appears twice and no torn line survives), trim torn tails of files the
   * cursor does not know, and export what the previous run committed but never wrote out.
   */
  recover(previousRunId: string | undefined): ExportResult & { trimmedBytes: number } {
    let trimmed = 0;
    const files = { ...this.cursor.files };
    // The previous run's files may have been written without a committed cursor at all: their recorded size is 0.
    if (previousRunId) for (const f of ['events.jsonl', 'metrics.csv']) files[`${previousRunId}/${f}`] ??= 0;
    for (const [rel, size] of Object.entries(files)) {
      const file = join(this.deps.paths.artifactsDir, rel);
      if (!existsSync(file)) continue;
      const actual = fileSize(file);
      if (actual > size) {
        truncateTo(file, size);
        trimmed += actual - size;
      } else if (actual < size) {
        // Shorter than recorded: something outside WaveOS cut it; keep whole lines only.
        trimmed += trimTornTail(file);
      }
    }
    let result: ExportResult = { events: 0, samples: 0 };
    try {
      result = this.exportPending(previousRunId ?? this.deps.runId);
    } catch (e) {
      // The journal still holds it all: the first periodic pass writes it out. A failing disk must not stop the start.
      this.deps.log.error({ err: errorMessage(e) }, 'artifact export at start failed; the next pass retries');
      this.deps.journal.append({
        kind: 'artifacts.export_failed',
        severity: 'error',
        source: 'artifacts',
        reason: `writing the artifacts at start failed (${errorMessage(e)}); the journal keeps every event and the next export pass retries`,
        data: { error: errorMessage(e) },
      });
    }
    // Files of earlier runs are complete now; only the current run's stay in the cursor.
    this.cursor.files = Object.fromEntries(Object.entries(this.cursor.files).filter(([rel]) => rel.startsWith(`${this.deps.runId}/`)));
    // metrics.csv exists with its header from the start: a run killed before its first telemetry flush still has one.
    const csv = join(runDir(this.deps.paths, this.deps.runId), 'metrics.csv');
    if (!existsSync(csv)) {
      mkdirSync(runDir(this.deps.paths, this.deps.runId), { recursive: true, mode: 0o750 });
      this.cursor.files[`${this.deps.runId}/metrics.csv`] = appendAndSync(csv, METRICS_CSV_HEADER, NO_CHAOS);
    }
    this.deps.journal.writeState(ARTIFACTS_CURSOR_KEY, this.cursor);
    if (trimmed > 0) {
      this.deps.journal.append({
        kind: 'artifacts.trimmed',
        severity: 'notice',
        source: 'artifacts',
        reason: `cut ${trimmed} bytes of artifact lines written after the last committed export (a crash or power loss interrupted it); they are exported again from the journal`,
        data: { bytes: trimmed },
      });
    }
    return { ...result, trimmedBytes: trimmed };
  }

  start(): void {
    this.exportNow();
    this.timer = setInterval(() => this.exportNow(), this.deps.flushIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.exportNow(true);
  }

  /**
   * One export pass; failures are logged and retried next pass (the journal still holds everything). With
   * `artifacts.metrics_csv: at_stop`, samples go out only when `final` (the stop).
   */
  exportNow(final = false): ExportResult {
    try {
      this.rebuildIfMissing();
      const r = this.exportPending(this.deps.runId, final || this.deps.metricsCsv !== 'at_stop', final);
      this.prune();
      return r;
    } catch (e) {
      this.deps.log.error({ err: errorMessage(e) }, 'artifact export failed; will retry');
      return { events: 0, samples: 0 };
    }
  }

  /**
   * Writes out what the journal holds beyond the cursor. A pass that fails (disk full, I/O error) is undone: each
   * file it appended to is cut back to its size before the pass and the cursor stays where it was, so the retry
   * writes the same lines once, after a whole line. If even the cut fails, the start-up repair makes the same cut.
   */
  private exportPending(metricsRunId: string, metrics = true, final = true): ExportResult {
    const before = new Map<string, number>();
    const committed = structuredClone(this.cursor);
    try {
      return this.exportPass(metricsRunId, before, metrics, final);
    } catch (e) {
      this.cursor = committed;
      for (const [file, size] of before) {
        try {
          truncateTo(file, size);
        } catch (err) {
          this.deps.log.error({ err: errorMessage(err), file }, 'could not cut an artifact back after a failed export; start-up will');
        }
      }
      throw e;
    }
  }

  private append(file: string, text: string, before: Map<string, number>): number {
    if (!before.has(file)) before.set(file, fileSize(file));
    return appendAndSync(file, text, this.deps.chaos ?? NO_CHAOS);
  }

  private exportPass(metricsRunId: string, before: Map<string, number>, metrics: boolean, final: boolean): ExportResult {
    const { journal, paths } = this.deps;
    journal.flush();
    const grown: Record<string, number> = {};
    let events = 0;
    let samples = 0;
    for (;;) {
      const batch = journal.events({ afterSeq: this.cursor.events_seq, limit: CHUNK });
      if (batch.length === 0) break;
      const byRun = new Map<string, string[]>();
      for (const e of batch) {
        const { prev_hash, hash, ...body } = e;
        const lines = byRun.get(e.run_id) ?? [];
        lines.push(eventLine(canonicalBody(body, canonicalJson(e.data)), prev_hash, hash));
        byRun.set(e.run_id, lines);
      }
      for (const [runId, lines] of byRun) {
        const dir = runDir(paths, runId);
        // A run whose folder was pruned keeps its events in the journal only.
        if (!existsSync(dir)) {
          if (runId !== this.deps.runId) continue;
          mkdirSync(dir, { recursive: true, mode: 0o750 });
        }
        const rel = `${runId}/events.jsonl`;
        grown[rel] = this.append(join(dir, 'events.jsonl'), lines.join(''), before);
      }
      events += batch.length;
      this.cursor.events_seq = (batch[batch.length - 1] as { seq: number }).seq;
    }
    let metricsMoved = false;
    if (metrics) {
      this.metricExport.pending(this.cursor, (rows, next) => {
        if (rows.length > 0) {
          const dir = runDir(paths, metricsRunId);
          mkdirSync(dir, { recursive: true, mode: 0o750 });
          const file = join(dir, 'metrics.csv');
          const header = fileSize(file) === 0 ? METRICS_CSV_HEADER : '';
          grown[`${metricsRunId}/metrics.csv`] = this.append(file, header + rows.map(sampleRow).join(''), before);
          samples += rows.length;
        }
        this.cursor.metrics_id = next.metrics_id;
        this.cursor.metric_heads = next.metric_heads;
        metricsMoved = true;
      });
    }
    if (events > 0 || samples > 0 || metricsMoved) {
      Object.assign(this.cursor.files, grown);
      this.cursorDirty = true;
    }
    // The files are fsynced; only now may the committed cursor move past what they hold. It is committed at
    // once when events went out (or at the stop), and when only samples did at most every CURSOR_COMMIT_MS:
    // a crash before that cuts metrics.csv back to the committed size and writes those lines again from the
    // journal — a re-export, never a lost or doubled line — where a commit every pass rewrote a WAL page
    // (and its checkpoint copy) every flush interval.
    const now = performance.now();
    if (this.cursorDirty && (events > 0 || final || now - this.cursorCommittedAt >= CURSOR_COMMIT_MS)) {
      journal.writeState(ARTIFACTS_CURSOR_KEY, this.cursor);
      this.cursorCommittedAt = now;
      this.cursorDirty = false;
    }
    return { events, samples };
  }

  /** Keeps at most keep_runs run folders and max_bytes in all, oldest first; never the current run. */
  prune(): string[] {
    const { paths, runId, keepRuns, maxBytes } = this.deps;
    const runs = readdirSync(paths.artifactsDir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    const sizes = new Map(runs.map((r) => [r, dirSize(join(paths.artifactsDir, r))]));
    let total = [...sizes.values()].reduce((a, b) => a + b, 0);
    let count = runs.length;
    const removed: string[] = [];
    for (const r of runs) {
      if (count <= keepRuns && total <= maxBytes) break;
      if (r === runId) continue;
      rmSync(join(paths.artifactsDir, r), { recursive: true, force: true });
      removed.push(r);
      total -= sizes.get(r) ?? 0;
      count--;
      delete this.cursor.files[`${r}/events.jsonl`];
      delete this.cursor.files[`${r}/metrics.csv`];
    }
    if (removed.length > 0) {
      this.deps.journal.append({
        kind: 'artifacts.pruned',
        severity: 'info',
        source: 'artifacts',
        reason: `removed ${removed.length} old run folder${removed.length === 1 ? '' : 's'} to stay within ${keepRuns} runs and ${maxBytes} bytes`,
        data: { removed, kept_runs: count, total_bytes: total, keep_runs: keepRuns, max_bytes: maxBytes },
      });
    }
    return removed;
  }
}
