import { type Clock, type Logger, errorMessage } from '../core/index.js';
import type { EventInput, Journal, MetricAggregate } from '../journal/index.js';
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

interface Agg {
  name: string;
  unit: string;
  labels: Record<string, string>;
  min: number;
  max: number;
  sum: number;
  last: number;
  count: number;
}

const MINUTE = 60_000;
const PRUNE_CHUNK = 20_000;
const QUOTA_EVENT_EVERY_MS = 3_600_000;

/**
 * Metric history: samples are buffered and written to the journal in one transaction per flush; each
 * series is also folded into one-minute min/avg/max/last aggregates as it goes. `maintain()` applies the
 * retention periods and the disk quota.
 */
export class History {
  private buffer: { ts_ms: number; name: string; value: number; unit: string; labels_json: string }[] = [];
  private aggs = new Map<string, Agg>();
  private minute = -1;
  private finished: MetricAggregate[] = [];
  private dropped = 0;
  private lastQuotaEvent = -Infinity;
  private writeFailing = false;
  private readonly written = new Map<string, { value: number; ts: number }>();

  constructor(private readonly o: HistoryOptions) {}

  get buffered(): number {
    return this.buffer.length;
  }

  /** Takes the series set since the last capture. */
  capture(values: readonly SeriesValue[]): void {
    const max = this.o.maxBuffered ?? 100_000;
    const every = this.o.unchangedEveryMs ?? 0;
    for (const v of values) {
      if (!Number.isFinite(v.value)) continue;
      const labels = v.labels as Record<string, string>;
      this.fold(v.key, v.ts_ms, v.name, v.unit, labels, v.value);
      if (every > 0) {
        const w = this.written.get(v.key);
        if (w && w.value === v.value && v.ts_ms - w.ts < every) continue;
        if (w) {
          w.value = v.value;
          w.ts = v.ts_ms;
        } else this.written.set(v.key, { value: v.value, ts: v.ts_ms });
      }
      this.buffer.push({ ts_ms: v.ts_ms, name: v.name, value: v.value, unit: v.unit, labels_json: v.labels_json });
    }
    if (this.buffer.length > max) {
      this.dropped += this.buffer.length - max;
      this.buffer.splice(0, this.buffer.length - max);
    }
  }

  private fold(key: string, ts: number, name: string, unit: string, labels: Record<string, string>, value: number): void {
    const minute = Math.floor(ts / MINUTE) * MINUTE;
    if (minute > this.minute) {
      this.closeMinute();
      this.minute = minute;
    } else if (minute < this.minute) {
      return; // a late sample of a minute already closed (the wall clock stepped back): raw only
    }
    const a = this.aggs.get(key);
    if (!a) this.aggs.set(key, { name, unit, labels, min: value, max: value, sum: value, last: value, count: 1 });
    else {
      if (value < a.min) a.min = value;
      if (value > a.max) a.max = value;
      a.sum += value;
      a.last = value;
      a.count++;
    }
  }

  private closeMinute(): void {
    if (this.minute < 0) return;
    for (const a of this.aggs.values())
      this.finished.push({ minute_ms: this.minute, name: a.name, unit: a.unit, labels: a.labels, min: a.min, avg: a.sum / a.count, max: a.max, last: a.last, count: a.count });
    this.aggs = new Map();
  }

  /** Writes buffered samples and finished minutes. With `final`, the current partial minute too. */
  flush(final = false): void {
    if (final) {
      this.closeMinute();
      this.minute = Number.MAX_SAFE_INTEGER;
    }
    // Series that stopped reporting (an interface that went away) are forgotten after two periods.
    const every = this.o.unchangedEveryMs ?? 0;
    if (every > 0) {
      const old = this.o.clock.now() - 2 * every;
      for (const [k, w] of this.written) if (w.ts < old) this.written.delete(k);
    }
    if (this.buffer.length === 0 && this.finished.length === 0) return;
    try {
      this.o.journal.appendSamplesJson(this.buffer);
      this.buffer = [];
      this.o.journal.appendAggregates(this.finished);
      this.finished = [];
      if (this.writeFailing) this.o.log.info('metric history writes work again');
      this.writeFailing = false;
    } catch (e) {
      // Kept in memory (bounded) and tried again at the next flush.
      if (!this.writeFailing) this.o.log.error({ err: errorMessage(e), buffered: this.buffer.length }, 'writing metric history failed; will retry');
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
      const r = j.pruneMetrics(now - this.o.rawRetentionMs, now - this.o.aggregateRetentionMs, PRUNE_CHUNK);
      raw += r.raw;
      aggregates += r.aggregates;
      if (r.raw < PRUNE_CHUNK && r.aggregates < PRUNE_CHUNK) break;
    }
    let fp = j.metricsFootprint();
    let quotaRaw = 0;
    let quotaAgg = 0;
    for (let i = 0; i < 50 && fp.bytes > this.o.quotaBytes; i++) {
      // Raw rows and aggregates are each sure of half the quota: over it, the one using more than its half
      // loses its oldest rows (raw first when both do: their minutes live on as aggregates).
      const trimRaw = fp.raw_rows > 0 && (fp.raw_bytes > this.o.quotaBytes / 2 || fp.aggregate_rows === 0);
      if (trimRaw) quotaRaw += j.trimOldestMetrics('raw', Math.max(1_000, Math.ceil(fp.raw_rows / 10)));
      else if (fp.aggregate_rows > 0) quotaAgg += j.trimOldestMetrics('aggregates', Math.max(1_000, Math.ceil(fp.aggregate_rows / 10)));
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
        reason: `metric history reached its ${this.o.quotaBytes} byte quota: deleted the oldest ${quotaRaw} raw samples and ${quotaAgg} one-minute aggregates before their retention ran out`,
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
}
