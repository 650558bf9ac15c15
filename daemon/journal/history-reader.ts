import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { WaveosError, errorMessage } from '../core/errors.js';
import type { SeriesRow, StoredChunk } from './chunk-store.js';
import { corruptFile, headKey, headSegments, pieceRow, readHeadLog } from './head-log.js';

// The journal's metric history, read: the series catalogue, the chunks, the head log and the one-minute
// aggregates. A leaf of its own (SQLite, the head log and the errors, nothing else), so a command that only
// reads history (`waveos metrics --since` on the file) loads neither the event side of the journal nor the
// schema, config and logging libraries that side needs (docs/footprint.md, "The bundle").

/** One series over one minute: what retention keeps after the raw samples are gone. */
export interface MetricAggregate {
  minute_ms: number;
  name: string;
  unit: string;
  labels: Record<string, string>;
  min: number;
  avg: number;
  max: number;
  last: number;
  count: number;
}

export interface MetricsQuery {
  sinceMs: number;
  untilMs?: number;
  name?: string;
  limit: number;
}

/** Size of the metrics history: raw samples exactly (chunk bytes), aggregates estimated (row-id range times the average row size). */
export interface MetricsFootprint {
  /** Chunks, sealed and open. */
  raw_rows: number;
  raw_samples: number;
  raw_oldest_ms: number | null;
  aggregate_rows: number;
  aggregate_oldest_ms: number | null;
  raw_bytes: number;
  aggregate_bytes: number;
  bytes: number;
}

/** Bytes an aggregate row takes in the file, its index entry included (schema 8: series id, minute, five numbers; measured). */
const AGG_ROW_BYTES = 64;

/** A stored sample with its labels still as the canonical JSON text they are stored as. */
export interface RawSample {
  ts_ms: number;
  name: string;
  value: number;
  unit: string;
  labels: string;
}

/** SQLite's page cache per connection, in KiB (measured with bench/sqlite-cache.mjs). */
export const SQLITE_CACHE_KIB = 2048;

export function openDb(path: string, readonly: boolean): Database.Database {
  try {
    if (!readonly) mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    const db = new Database(path, { readonly, fileMustExist: readonly });
    db.pragma('busy_timeout = 5000');
    // better-sqlite3 builds SQLite with a 16 MiB page cache per connection, which filled as the journal grew:
    // RSS crept with the file. 2 MiB, and no memory map (its pages count in RSS too): docs/footprint.md, "SQLite".
    db.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
    db.pragma('mmap_size = 0');
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
    return db;
  } catch (e) {
    throw new WaveosError('WAVEOS_E_JOURNAL_OPEN', `cannot open the journal ${path}: ${errorMessage(e)}`, { cause: e });
  }
}

/** Read access to a journal file's metric history (JournalReader adds the events, intents and state). */
export class HistoryReader {
  protected readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(db: Database.Database) {
    this.db = db;
  }

  /** The file read-only, with the pragmas every connection gets; a file that cannot be opened is WAVEOS_E_JOURNAL_OPEN. */
  static openReadOnly(path: string): HistoryReader {
    return new HistoryReader(openDb(path, true));
  }

  /** The exact number of stored raw metric samples (in sealed and head chunks). */
  sampleCount(): number {
    return this.metricsFootprint().raw_samples;
  }

  /** One-minute aggregates of minutes starting at or after `sinceMs`, oldest first. */
  aggregatesSince(q: MetricsQuery): MetricAggregate[] {
    const until = q.untilMs ?? Number.MAX_SAFE_INTEGER;
    const cols = 'SELECT a.minute_ms, s.name, s.unit, s.labels, a.min, a.avg, a.max, a.last, a.count FROM metrics_1m a JOIN series s ON s.id = a.series_id';
    const rows = (
      q.name
        ? this.statement(`${cols} WHERE a.minute_ms >= ? AND a.minute_ms < ? AND a.series_id IN (SELECT id FROM series WHERE name = ?) ORDER BY a.minute_ms, a.id LIMIT ?`).all(
            q.sinceMs,
            until,
            q.name,
            q.limit,
          )
        : this.statement(`${cols} WHERE a.minute_ms >= ? AND a.minute_ms < ? ORDER BY a.minute_ms, a.id LIMIT ?`).all(q.sinceMs, until, q.limit)
    ) as (Omit<MetricAggregate, 'labels'> & { labels: string })[];
    return rows.map((r) => ({ ...r, labels: JSON.parse(r.labels) as Record<string, string> }));
  }

  /** Where the oldest raw sample's chunk starts (null: no raw samples): the index's first entry, no table scan. */
  rawOldestMs(): number | null {
    this.assertChunks();
    const r = this.statement('SELECT min(start_ms) AS s FROM chunks').get() as { s: number | null };
    let s = r.s;
    for (const h of this.headRows()) if (h.count > 0 && (s === null || h.start_ms < s)) s = h.start_ms;
    return s;
  }

  /** A prepared statement, made once per text: a read of many slices runs the same few queries thousands of times. */
  protected statement(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  /** The history's size, exactly: the bytes of its chunks (and an estimate for the one-minute aggregates). */
  metricsFootprint(): MetricsFootprint {
    this.assertChunks();
    const c = this.db.prepare('SELECT count(*) AS n, coalesce(sum(count), 0) AS samples, coalesce(sum(length(data)), 0) AS bytes, min(start_ms) AS oldest FROM chunks').get() as {
      n: number;
      samples: number;
      bytes: number;
      oldest: number | null;
    };
    for (const h of this.headRows()) {
      c.n++;
      c.samples += h.count;
      c.bytes += h.data.length;
      if (h.count > 0 && (c.oldest === null || h.start_ms < c.oldest)) c.oldest = h.start_ms;
    }
    const agg = this.db.prepare('SELECT min(id) AS lo, max(id) AS hi FROM metrics_1m').get() as { lo: number | null; hi: number | null };
    const aggRows = agg.lo === null || agg.hi === null ? 0 : agg.hi - agg.lo + 1;
    const aggOldest = aggRows ? (this.db.prepare('SELECT minute_ms FROM metrics_1m WHERE id = ?').get(agg.lo) as { minute_ms: number } | undefined) : undefined;
    const aggBytes = Math.round(aggRows * AGG_ROW_BYTES);
    return {
      raw_rows: c.n,
      raw_samples: c.samples,
      raw_oldest_ms: c.oldest,
      aggregate_rows: aggRows,
      aggregate_oldest_ms: aggOldest?.minute_ms ?? null,
      raw_bytes: c.bytes,
      aggregate_bytes: aggBytes,
      bytes: c.bytes + aggBytes,
    };
  }

  /** The series catalogue. */
  seriesCatalogue(): SeriesRow[] {
    this.assertChunks();
    return this.db.prepare('SELECT id, name, unit, labels FROM series ORDER BY id').all() as SeriesRow[];
  }

  /** The head pieces of series named `name` (all when undefined). */
  private headRowsOf(name: string | undefined): StoredChunk[] {
    const rows = this.headRows();
    if (name === undefined || rows.length === 0) return rows;
    const ids = new Set((this.statement('SELECT id FROM series WHERE name = ?').all(name) as { id: number }[]).map((r) => r.id));
    return rows.filter((r) => ids.has(r.series_id));
  }

  /**
   * Chunks (sealed, and the heads as last flushed) whose first sample falls in [fromMs, toMs), of one metric
   * name or all, in start order. Their data is as stored: decode and check it with decodeChunk.
   */
  chunksStartingIn(fromMs: number, toMs: number, name?: string): StoredChunk[] {
    this.assertChunks();
    const where = name === undefined ? '' : ' AND series_id IN (SELECT id FROM series WHERE name = ?)';
    const args = name === undefined ? [fromMs, toMs] : [fromMs, toMs, name];
    const rows = this.statement(`SELECT id, series_id, start_ms, end_ms, count, data FROM chunks WHERE start_ms >= ? AND start_ms < ?${where} ORDER BY start_ms, series_id`).all(
      ...args,
    ) as StoredChunk[];
    const heads = this.headRowsOf(name).filter((h) => h.start_ms >= fromMs && h.start_ms < toMs);
    if (heads.length === 0) return rows;
    return [...rows, ...heads].sort((a, b) => a.start_ms - b.start_ms || a.series_id - b.series_id);
  }

  /** Where the first chunk starting at or after `fromMs` starts (null: none), to skip empty stretches of time. */
  nextChunkStart(fromMs: number, name?: string): number | null {
    this.assertChunks();
    const where = name === undefined ? '' : ' AND series_id IN (SELECT id FROM series WHERE name = ?)';
    const args = name === undefined ? [fromMs] : [fromMs, name];
    const r = this.statement(`SELECT min(start_ms) AS s FROM chunks WHERE start_ms >= ?${where}`).get(...args) as { s: number | null };
    let s = r.s;
    for (const h of this.headRowsOf(name)) if (h.start_ms >= fromMs && (s === null || h.start_ms < s)) s = h.start_ms;
    return s;
  }

  /** Sealed chunks with ids above `afterId`, in id order (the order they were sealed in). */
  chunksAfter(afterId: number, limit: number): StoredChunk[] {
    this.assertChunks();
    return this.db.prepare('SELECT id, series_id, start_ms, end_ms, count, data FROM chunks WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as StoredChunk[];
  }

  /**
   * The pieces of each series' open chunk as the flushes wrote them, in series order and, within one, in time
   * order (the head log; a record of it that fails its check comes as a chunk that does not decode, for the
   * readers to report).
   */
  headChunks(): StoredChunk[] {
    this.assertChunks();
    return this.headRows();
  }

  private headCache: { key: string; last: number; rows: StoredChunk[] } | undefined;

  /**
   * The head log's pieces whose chunk is not sealed yet (a sealed chunk of the series starting where the
   * piece's open chunk started supersedes it), and the rows of a head_chunks table a journal not yet at
   * schema 7 still has. Read again only when the log's files or the newest sealed chunk changed.
   */
  protected headRows(): StoredChunk[] {
    const path = this.db.name;
    const last = (this.statement('SELECT max(id) AS id FROM chunks').get() as { id: number | null }).id ?? 0;
    // A chunk sealed since: the log's files may have gone with it, list them again.
    if (this.headCache !== undefined && this.headCache.last !== last) this.forgetHeadLogFiles();
    const segs = this.db.memory ? [] : [...this.headLogFiles(path), { n: -1, path: corruptFile(path) }];
    let any = false;
    const stats = segs.map((s) => {
      try {
        // No exception for a file that is not there (the corrupt-records file, usually): this runs every slice.
        const st = statSync(s.path, { throwIfNoEntry: false });
        if (st === undefined) return `${s.n}:-`;
        any = true;
        return `${s.n}:${st.size}:${st.mtimeMs}`;
      } catch {
        return `${s.n}:-`;
      }
    });
    const key = `${stats.join(',')}|${last}`;
    if (this.headCache?.key === key) return this.headCache.rows;
    const rows: StoredChunk[] = [];
    if (any) {
      const log = readHeadLog(path);
      const sealed = this.statement('SELECT 1 FROM chunks WHERE series_id = ? AND start_ms = ? LIMIT 1');
      const known = new Map<string, boolean>();
      for (const p of log.pieces) {
        const k = headKey(p.series_id, p.head_start_ms);
        let done = known.get(k);
        if (done === undefined) known.set(k, (done = sealed.get(p.series_id, p.head_start_ms) !== undefined));
        if (!done) rows.push(pieceRow(p));
      }
      // Stable: within a series, log order is time order.
      rows.sort((a, b) => a.series_id - b.series_id);
      rows.push(...log.corrupt);
    }
    if (this.hasHeadTable())
      rows.push(...(this.db.prepare('SELECT NULL AS id, series_id, start_ms, end_ms, count, data FROM head_chunks ORDER BY series_id, id').all() as StoredChunk[]));
    this.headCache = { key, last, rows };
    return rows;
  }

  private headLogListing: { atMs: number; segs: { n: number; path: string }[] } | undefined;

  /**
   * The head log's files, listed at most once a second: a read asks for the heads every slice, and listing
   * the folder is most of what that costs. The files listed are still stat'ed every time (a record appended
   * shows), a sealed chunk lists again (files go only once their chunks are sealed), and the writer forgets
   * the listing whenever it writes the log; so a reader in another process sees a new file (a new one begins
   * every 1 MiB of records) up to a second late, which is as if its read had begun that much earlier.
   */
  private headLogFiles(path: string): { n: number; path: string }[] {
    // Monotonic, and without the perf_hooks module that `performance` loads.
    const now = process.uptime() * 1000;
    if (this.headLogListing === undefined || now - this.headLogListing.atMs >= 1_000) this.headLogListing = { atMs: now, segs: headSegments(path) };
    return this.headLogListing.segs;
  }

  /** The head log changed here (the writer wrote or removed its files): list it again at the next read. */
  protected forgetHeadLogFiles(): void {
    this.headLogListing = undefined;
  }

  private headTable: boolean | undefined;

  /** Schema 5 and 6 kept the open chunks' pieces in a table (schema 7 moved them to the head log). */
  private hasHeadTable(): boolean {
    this.headTable ??= this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'head_chunks'").get() !== undefined;
    return this.headTable;
  }

  /** The id of the newest sealed chunk (0 when none). */
  lastChunkId(): number {
    this.assertChunks();
    return (this.db.prepare('SELECT max(id) AS id FROM chunks').get() as { id: number | null }).id ?? 0;
  }

  private chunked: boolean | undefined;

  /** A journal an older WaveOS left, opened read-only, still keeps one row per sample until a daemon converts it. */
  protected assertChunks(): void {
    this.chunked ??= this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chunks'").get() !== undefined;
    if (!this.chunked)
      throw new WaveosError(
        'WAVEOS_E_JOURNAL_OPEN',
        `the journal ${this.db.name} keeps its metric history in the old one-row-per-sample layout: start the daemon once to convert it to chunks`,
      );
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
