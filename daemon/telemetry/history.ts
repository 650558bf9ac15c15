import { type Clock, type Logger, errorMessage } from '../core/index.js';
import { CHUNK_MAX_SPAN_MS, type ChunkRow, type EventInput, HeadChunk, type Journal, type PruneResult } from '../journal/index.js';
import { encodeChunk } from './chunk-codec.js';
import { corruptChunkEvent } from './history-query.js';
import type { SeriesValue } from './registry.js';

export interface HistoryOptions {
  journal: Journal;
  clock: Clock;
  log: Logger;
  emit(e: EventInput): void;
  rawRetentionMs: number;
  aggregateRetentionMs: number;
  quotaBytes: number;
  /** A series whose value has not changed is written at most this often (0: every sample). */
  unchangedEveryMs?: number;
  /** Most samples held in memory while the journal cannot take them; the oldest go first. */
  maxBuffered?: number;
}

/** A series' open chunk, as the history holds it between flushes. */
interface Head {
  chunk: HeadChunk;
  /** Its samples since the last flush that wrote: the next piece. */
  pending: { t: number; v: number }[];
  openedMono: number;
}

/** Chunks (or aggregate rows) deleted per retention step. */
const PRUNE_CHUNK = 2_000;
const QUOTA_EVENT_EVERY_MS = 3_600_000;

/**
 * Metric history: each series' samples go into its open head chunk in memory (docs/formats/chunks.md); a
 * head is sealed when full, when it would span too long, or when its series' clock steps back. Each flush —
 * every `telemetry.flush_interval` — writes, in one transaction and one fsync, the chunks sealed since the
 * last one and, for every head appended to, a piece with its new samples: a power cut loses at most the samples since
 * the last flush, and never leaves a chunk half-written (SQLite's WAL commits it whole or not at all).
 * `maintain()` applies the retention periods and the disk quota; the chunks they delete are folded into
 * one-minute min/avg/max/last aggregates in the same transaction (Journal.pruneMetrics), so a minute's
 * aggregate exists exactly when its raw samples are gone.
 */
export class History {
  private heads = new Map<string, Head>();
  /** Sealed since the last successful flush. */
  private sealed: ChunkRow[] = [];
  /** Series whose head was sealed by age and has no successor: their head row goes. */
  private closed = new Set<number>();
  private unflushed = 0;
  private dropped = 0;
  private lastQuotaEvent = -Infinity;
  private writeFailing = false;
  private readonly written = new Map<string, { value: number; ts: number }>();

  constructor(private readonly o: HistoryOptions) {}

  /** Samples captured and not yet written to the journal. */
  get buffered(): number {
    return this.unflushed;
  }

  /** Takes the series set since the last capture. Non-finite readings are not measurements and are not kept. */
  capture(values: readonly SeriesValue[]): void {
    const every = this.o.unchangedEveryMs ?? 0;
    for (const v of values) {
      if (!Number.isFinite(v.value)) continue;
      if (every > 0) {
        const w = this.written.get(v.key);
        if (w && w.value === v.value && v.ts_ms - w.ts < every) continue;
        if (w) {
          w.value = v.value;
          w.ts = v.ts_ms;
        } else this.written.set(v.key, { value: v.value, ts: v.ts_ms });
      }
      this.append(v);
    }
    this.bound();
  }

  private append(v: SeriesValue): void {
    let h = this.heads.get(v.key);
    if (!h) {
      let sid: number;
      try {
        sid = this.o.journal.seriesId(v.name, v.unit, v.labels_json);
      } catch {
        this.dropped++; // the catalogue cannot take a new series now (disk full): its samples wait for it
        return;
      }
      h = { chunk: new HeadChunk(sid), pending: [], openedMono: this.o.clock.monoMs() };
      this.heads.set(v.key, h);
    } else if (!h.chunk.fits(v.ts_ms)) {
      this.seal(h.chunk);
      h.chunk = new HeadChunk(h.chunk.seriesId);
      h.pending = [];
      h.openedMono = this.o.clock.monoMs();
    }
    h.chunk.append(v.ts_ms, v.value);
    h.pending.push({ t: v.ts_ms, v: v.value });
    this.unflushed++;
  }

  /** A sealed chunk waits for the next flush, which also deletes the pieces its series wrote of it. */
  private seal(c: HeadChunk): void {
    if (c.count > 0) this.sealed.push(c.row());
    this.closed.add(c.seriesId);
  }

  /** While the journal cannot take them, sealed chunks wait in memory up to `maxBuffered` samples; the oldest go first. */
  private bound(): void {
    const max = this.o.maxBuffered ?? 100_000;
    while (this.unflushed > max && this.sealed.length > 0) {
      const c = this.sealed.shift() as ChunkRow;
      this.dropped += c.count;
      this.unflushed -= c.count;
    }
  }

  /**
   * Writes the chunks sealed since the last flush and the heads appended to. Heads open longer than a chunk
   * may span are sealed first (a series that stopped reporting). With `final`, every head is sealed.
   */
  flush(final = false): void {
    // Series that stopped reporting (an interface that went away) are forgotten after two periods.
    const every = this.o.unchangedEveryMs ?? 0;
    if (every > 0) {
      const old = this.o.clock.now() - 2 * every;
      for (const [k, w] of this.written) if (w.ts < old) this.written.delete(k);
    }
    const mono = this.o.clock.monoMs();
    const pieces: (ChunkRow & { head_start_ms: number })[] = [];
    for (const [k, h] of this.heads) {
      if (final || mono - h.openedMono >= CHUNK_MAX_SPAN_MS) {
        this.seal(h.chunk);
        this.heads.delete(k);
      } else if (h.pending.length > 0) {
        const first = h.pending[0] as { t: number };
        const last = h.pending[h.pending.length - 1] as { t: number };
        pieces.push({ series_id: h.chunk.seriesId, head_start_ms: h.chunk.start, start_ms: first.t, end_ms: last.t, count: h.pending.length, data: encodeChunk(h.pending) });
      }
    }
    if (this.sealed.length === 0 && pieces.length === 0 && this.closed.size === 0) return;
    try {
      // Sealed chunks first, in their own commit: once it holds, a failing append of the pieces is retried alone.
      this.o.journal.writeChunks({ sealed: this.sealed, pieces: [] });
      this.sealed = [];
      this.closed.clear();
      this.o.journal.writeChunks({ sealed: [], pieces });
      for (const h of this.heads.values()) h.pending = [];
      this.unflushed = 0;
      if (this.writeFailing) this.o.log.info('metric history writes work again');
      this.writeFailing = false;
    } catch (e) {
      // Kept in memory (bounded) and tried again at the next flush.
      if (!this.writeFailing) this.o.log.error({ err: errorMessage(e), buffered: this.unflushed }, 'writing metric history failed; will retry');
      this.writeFailing = true;
    }
    if (this.dropped > 0) {
      this.o.emit({
        kind: 'telemetry.samples_dropped',
        severity: 'warning',
        source: 'telemetry',
        reason: `dropped ${this.dropped} metric samples: the journal could not take them and the in-memory buffer is full`,
        data: { dropped: this.dropped, max_buffered: this.o.maxBuffered ?? 100_000 },
      });
      this.dropped = 0;
    }
  }

  /** Applies retention, then the quota. Returns what was deleted. */
  maintain(): { raw: number; aggregates: number; quota_raw: number; quota_aggregates: number; bytes: number } {
    const j = this.o.journal;
    const now = this.o.clock.now();
    let raw = 0;
    let aggregates = 0;
    for (let i = 0; i < 50; i++) {
      const r = this.reportUnfolded(j.pruneMetrics(now - this.o.rawRetentionMs, now - this.o.aggregateRetentionMs, PRUNE_CHUNK));
      raw += r.raw;
      aggregates += r.aggregates;
      if (r.raw < PRUNE_CHUNK && r.aggregates < PRUNE_CHUNK) break;
    }
    let fp = j.metricsFootprint();
    let quotaRaw = 0;
    let quotaAgg = 0;
    for (let i = 0; i < 50 && fp.bytes > this.o.quotaBytes; i++) {
      // Raw chunks and aggregates are each sure of half the quota: over it, the one using more than its half
      // loses its oldest rows (raw first when both do: their minutes live on as aggregates). Raw bytes are
      // exact (the chunks' own size), so a trim of a tenth of the chunks brings them down by about a tenth.
      const trimRaw = fp.raw_rows > 0 && (fp.raw_bytes > this.o.quotaBytes / 2 || fp.aggregate_rows === 0);
      if (trimRaw) quotaRaw += this.reportUnfolded(j.trimOldestMetrics('raw', Math.max(1, Math.ceil(fp.raw_rows / 10)))).raw;
      else if (fp.aggregate_rows > 0) quotaAgg += j.trimOldestMetrics('aggregates', Math.max(1_000, Math.ceil(fp.aggregate_rows / 10))).aggregates;
      else break;
      fp = j.metricsFootprint();
    }
    const mono = this.o.clock.monoMs();
    if ((quotaRaw > 0 || quotaAgg > 0) && mono - this.lastQuotaEvent >= QUOTA_EVENT_EVERY_MS) {
      this.lastQuotaEvent = mono;
      this.o.emit({
        kind: 'telemetry.quota_pruned',
        severity: 'notice',
        source: 'telemetry',
        reason: `metric history reached its ${this.o.quotaBytes} byte quota: deleted the oldest ${quotaRaw} raw sample chunks and ${quotaAgg} one-minute aggregates before their retention ran out`,
        data: {
          quota_bytes: this.o.quotaBytes,
          bytes: fp.bytes,
          deleted_raw: quotaRaw,
          deleted_aggregates: quotaAgg,
          raw_oldest: fp.raw_oldest_ms === null ? null : new Date(fp.raw_oldest_ms).toISOString(),
        },
      });
    }
    return { raw, aggregates, quota_raw: quotaRaw, quota_aggregates: quotaAgg, bytes: fp.bytes };
  }

  /** A chunk deleted that failed its check could not be folded: it is reported as every read reports one. */
  private reportUnfolded(r: PruneResult): PruneResult {
    for (const c of r.corrupt) this.o.emit(corruptChunkEvent(c));
    return r;
  }
}
