import { CHUNK_MAX_SPAN_MS, type EventInput, type JournalReader, type MetricAggregate, type RawSample, type SeriesRow, type StoredChunk } from '../journal/index.js';
import { ChunkCorrupt, type Sample, decodeChunk } from './chunk-codec.js';

/**
 * The one reader of metric history: everything that reads samples back (`waveos metrics --since`, the API,
 * the evidence pack's metrics.csv and charts, the artifacts' metrics.csv) goes through `sampleBatches` or
 * `decodeStored`, so a chunk is always checked the same way and a corrupt one is never returned as data.
 */

/** A chunk whose checksum or structure does not hold: reported, skipped, never read as samples. */
export interface CorruptChunk {
  /** null: the series' head chunk (head_chunks). */
  chunk_id: number | null;
  series_id: number;
  name: string;
  labels: string;
  start_ms: number;
  end_ms: number;
  count: number;
  reason: string;
  message: string;
}

export type CorruptChunkHandler = (c: CorruptChunk) => void;

/** The samples of a stored chunk, checked; undefined (and `onCorrupt` told) when it does not decode exactly. */
export function decodeStored(c: StoredChunk, series: SeriesRow | undefined, onCorrupt: CorruptChunkHandler | undefined): Sample[] | undefined {
  try {
    const samples = decodeChunk(c.data);
    if (samples.length !== c.count) throw new ChunkCorrupt('length', `the row says ${c.count} samples, the chunk holds ${samples.length}`);
    return samples;
  } catch (e) {
    if (!(e instanceof ChunkCorrupt)) throw e;
    onCorrupt?.({
      chunk_id: c.id,
      series_id: c.series_id,
      name: series?.name ?? '?',
      labels: series?.labels ?? '{}',
      start_ms: c.start_ms,
      end_ms: c.end_ms,
      count: c.count,
      reason: e.reason,
      message: e.message,
    });
    return undefined;
  }
}

/** The event a corrupt chunk is reported with (the daemon emits it once per chunk). */
export function corruptChunkEvent(c: CorruptChunk): EventInput {
  const where = c.chunk_id === null ? `the open chunk of series ${c.series_id}` : `chunk ${c.chunk_id}`;
  return {
    kind: 'telemetry.chunk_corrupt',
    severity: 'error',
    source: 'telemetry',
    reason: `${where} (${c.name}${c.labels === '{}' ? '' : ` ${c.labels}`}, ${c.count} samples from ${new Date(c.start_ms).toISOString()}) failed its check (${c.reason}): its samples are left out of every read`,
    data: { chunk_id: c.chunk_id, series_id: c.series_id, name: c.name, labels: c.labels, start_ms: c.start_ms, end_ms: c.end_ms, count: c.count, reason: c.reason },
  };
}

/** A handler that emits `telemetry.chunk_corrupt` once per chunk, however often it is read. */
export function reportCorruptOnce(emit: (e: EventInput) => void): CorruptChunkHandler {
  const seen = new Set<string>();
  return (c) => {
    const key = `${c.chunk_id ?? `head:${c.series_id}`}:${c.start_ms}:${c.count}`;
    if (seen.has(key)) return;
    if (seen.size > 10_000) seen.clear();
    seen.add(key);
    emit(corruptChunkEvent(c));
  };
}

export interface ChunkCheck {
  /** False for a journal whose history is still one row per sample (not converted yet): nothing checked. */
  chunked: boolean;
  chunks: number;
  samples: number;
  corrupt: CorruptChunk[];
}

/** Every stored chunk, sealed and open, decoded and checked (`waveos journal verify`), a page at a time. */
export function checkAllChunks(j: JournalReader): ChunkCheck {
  const out: ChunkCheck = { chunked: true, chunks: 0, samples: 0, corrupt: [] };
  let catalogue: Map<number, SeriesRow>;
  try {
    catalogue = new Map(j.seriesCatalogue().map((s) => [s.id, s]));
  } catch {
    return { ...out, chunked: false };
  }
  const check = (c: StoredChunk): void => {
    out.chunks++;
    out.samples += decodeStored(c, catalogue.get(c.series_id), (x) => out.corrupt.push(x))?.length ?? 0;
  };
  for (let id = 0; ; ) {
    const page = j.chunksAfter(id, 2_000);
    if (page.length === 0) break;
    page.forEach(check);
    id = (page[page.length - 1] as StoredChunk).id as number;
  }
  j.headChunks().forEach(check);
  return out;
}

export interface SampleWindow {
  sinceMs: number;
  /** Inclusive. */
  untilMs: number;
  name?: string;
  onCorrupt?: CorruptChunkHandler;
}

/** One batch of a read covers this much time: memory stays bounded by it, whatever the window. */
const SLICE_MS = 60_000;

interface OpenChunk {
  series: SeriesRow;
  samples: Sample[];
  pos: number;
}

/**
 * Samples stamped inside the window, in time order (samples of one timestamp in series order), as batches of
 * one time slice each. Chunks are decoded once, as their first sample comes into a slice, and dropped once
 * read; empty stretches of time are skipped. Callers that must not hold the event loop yield between batches.
 */
export function* sampleBatches(j: JournalReader, w: SampleWindow): Generator<RawSample[]> {
  const catalogue = new Map<number, SeriesRow>();
  const seriesOf = (id: number): SeriesRow | undefined => {
    if (!catalogue.has(id)) for (const s of j.seriesCatalogue()) catalogue.set(s.id, s);
    return catalogue.get(id);
  };
  let open: OpenChunk[] = [];
  const take = (chunks: StoredChunk[]): void => {
    for (const c of chunks) {
      if (c.end_ms < w.sinceMs || c.start_ms > w.untilMs) continue;
      const series = seriesOf(c.series_id);
      const samples = decodeStored(c, series, w.onCorrupt);
      if (!samples || !series) continue;
      let pos = 0;
      while (pos < samples.length && (samples[pos] as Sample).t < w.sinceMs) pos++;
      if (pos < samples.length) open.push({ series, samples, pos });
    }
  };
  // Chunks that began before the window and reach into it began at most one chunk span before it.
  take(j.chunksStartingIn(w.sinceMs - CHUNK_MAX_SPAN_MS, w.sinceMs, w.name));
  for (let a = w.sinceMs; a <= w.untilMs; ) {
    if (open.length === 0) {
      const next = j.nextChunkStart(a, w.name);
      if (next === null || next > w.untilMs) return;
      a = next;
    }
    const b = Math.min(a + SLICE_MS, w.untilMs + 1);
    take(j.chunksStartingIn(a, b, w.name));
    const out: RawSample[] = [];
    for (const o of open) {
      const { samples, series } = o;
      while (o.pos < samples.length) {
        const s = samples[o.pos] as Sample;
        if (s.t >= b) break;
        out.push({ ts_ms: s.t, name: series.name, value: s.v, unit: series.unit, labels: series.labels });
        o.pos++;
      }
    }
    open = open.filter((o) => o.pos < o.samples.length && (o.samples[o.pos] as Sample).t <= w.untilMs);
    if (out.length > 0) {
      out.sort((x, y) => x.ts_ms - y.ts_ms);
      yield out;
    }
    a = b;
  }
}

export interface HistoryQuery {
  sinceMs: number;
  name?: string;
  limit: number;
  onCorrupt?: CorruptChunkHandler;
}

export interface HistoryAnswer {
  since: string;
  /** Where raw samples start; older minutes come from the one-minute aggregates. */
  raw_from: string | null;
  samples: { ts: string; name: string; value: number; unit: string; labels: Record<string, string> }[];
  aggregates: { minute: string; name: string; unit: string; labels: Record<string, string>; min: number; avg: number; max: number; last: number; count: number }[];
  truncated: boolean;
  /** Chunks that failed their check and were left out (each also reported as a telemetry.chunk_corrupt event by the daemon). */
  corrupt_chunks: CorruptChunk[];
}

/**
 * History since a point in time: raw samples where retention still holds them, and one-minute
 * aggregates for the part before the oldest raw sample. Works on the daemon's journal and, read-only,
 * on the journal file when no daemon runs.
 */
export function readHistory(j: JournalReader, q: HistoryQuery): HistoryAnswer {
  const rawFrom = j.rawOldestMs();
  let aggs: MetricAggregate[] = [];
  if (rawFrom === null || q.sinceMs < rawFrom) {
    aggs = j.aggregatesSince({ sinceMs: Math.floor(q.sinceMs / 60_000) * 60_000, untilMs: rawFrom ?? undefined, name: q.name, limit: q.limit });
  }
  const corrupt: CorruptChunk[] = [];
  const onCorrupt: CorruptChunkHandler = (c) => {
    corrupt.push(c);
    q.onCorrupt?.(c);
  };
  const samples: HistoryAnswer['samples'] = [];
  const labelsOf = new Map<string, Record<string, string>>();
  // Samples of one pass share their timestamp: its ISO text is made once.
  let lastTs = Number.NaN;
  let lastIso = '';
  const left = q.limit - aggs.length;
  if (rawFrom !== null && left > 0) {
    for (const batch of sampleBatches(j, { sinceMs: Math.max(q.sinceMs, rawFrom), untilMs: Number.MAX_SAFE_INTEGER, name: q.name, onCorrupt })) {
      for (const s of batch) {
        let labels = labelsOf.get(s.labels);
        if (!labels) labelsOf.set(s.labels, (labels = JSON.parse(s.labels) as Record<string, string>));
        if (s.ts_ms !== lastTs) {
          lastTs = s.ts_ms;
          lastIso = new Date(s.ts_ms).toISOString();
        }
        samples.push({ ts: lastIso, name: s.name, value: s.value, unit: s.unit, labels });
        if (samples.length >= left) break;
      }
      if (samples.length >= left) break;
    }
  }
  return {
    since: new Date(q.sinceMs).toISOString(),
    raw_from: rawFrom === null ? null : new Date(rawFrom).toISOString(),
    samples,
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
    corrupt_chunks: corrupt,
  };
}
