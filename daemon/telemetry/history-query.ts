import type { JournalReader, MetricAggregate, MetricSample } from '../journal/index.js';

export interface HistoryQuery {
  sinceMs: number;
  name?: string;
  limit: number;
}

export interface HistoryAnswer {
  since: string;
  /** Where raw samples start; older minutes come from the one-minute aggregates. */
  raw_from: string | null;
  samples: { ts: string; name: string; value: number; unit: string; labels: Record<string, string> }[];
  aggregates: { minute: string; name: string; unit: string; labels: Record<string, string>; min: number; avg: number; max: number; last: number; count: number }[];
  truncated: boolean;
}

/**
 * History since a point in time: raw samples where retention still holds them, and one-minute
 * aggregates for the part before the oldest raw sample. Works on the daemon's journal and, read-only,
 * on the journal file when no daemon runs.
 */
export function readHistory(j: JournalReader, q: HistoryQuery): HistoryAnswer {
  const fp = j.metricsFootprint();
  const rawFrom = fp.raw_oldest_ms;
  let aggs: MetricAggregate[] = [];
  if (rawFrom === null || q.sinceMs < rawFrom) {
    aggs = j.aggregatesSince({ sinceMs: Math.floor(q.sinceMs / 60_000) * 60_000, untilMs: rawFrom ?? undefined, name: q.name, limit: q.limit });
  }
  const left = q.limit - aggs.length;
  const samples: MetricSample[] = rawFrom === null || left <= 0 ? [] : j.samplesSince({ sinceMs: Math.max(q.sinceMs, rawFrom), name: q.name, limit: left });
  return {
    since: new Date(q.sinceMs).toISOString(),
    raw_from: rawFrom === null ? null : new Date(rawFrom).toISOString(),
    samples: samples.map((s) => ({ ts: new Date(s.ts_ms).toISOString(), name: s.name, value: s.value, unit: s.unit, labels: s.labels })),
    aggregates: aggs.map((a) => ({
      minute: new Date(a.minute_ms).toISOString(),
      name: a.name,
      unit: a.unit,
      labels: a.labels,
      min: a.min,
      avg: a.avg,
      max: a.max,
      last: a.last,
      count: a.count,
    })),
    truncated: aggs.length + samples.length >= q.limit,
  };
}
