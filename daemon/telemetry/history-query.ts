// Leaf modules, not the journal's barrel: `waveos metrics --since` on the file loads this, the history reader and the codec only.
import { CHUNK_MAX_SPAN_MS, type CorruptChunk, type SeriesRow, type StoredChunk } from '../journal/chunk-store.js';
import type { EventInput } from '../journal/event.js';
import type { HistoryReader, MetricAggregate, RawSample } from '../journal/history-reader.js';
import { type ChunkColumns, ChunkCorrupt, type Sample, decodeChunkColumns } from './chunk-codec.js';

/**
 * The one reader of metric history: everything that reads samples back (`waveos metrics --since`, the API,
 * the evidence pack's metrics.csv and charts, the artifacts' metrics.csv) goes through `sampleBatches` or
 * `decodeStored`, so a chunk is always checked the same way and a corrupt one is never returned as data.
 */

export type { CorruptChunk };

export type CorruptChunkHandler = (c: CorruptChunk) => void;

/** The samples of a stored chunk, checked; undefined (and `onCorrupt` told) when it does not decode exactly. */
export function decodeStored(c: StoredChunk, series: SeriesRow | undefined, onCorrupt: CorruptChunkHandler | undefined): Sample[] | undefined {
  const cols = decodeStoredColumns(c, series, onCorrupt);
  if (!cols) return undefined;
  const out = new Array<Sample>(cols.t.length);
  for (let i = 0; i < cols.t.length; i++) out[i] = { t: cols.t[i] as number, v: cols.v[i] as number };
  return out;
}

/** decodeStored as two typed columns (no object per sample). */
export function decodeStoredColumns(c: StoredChunk, series: SeriesRow | undefined, onCorrupt: CorruptChunkHandler | undefined): ChunkColumns | undefined {
  try {
    const cols = decodeChunkColumns(c.data);
    if (cols.t.length !== c.count) throw new ChunkCorrupt('length', `the row says ${c.count} samples, the chunk holds ${cols.t.length}`);
    return cols;
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
export function checkAllChunks(j: HistoryReader): ChunkCheck {
  const out: ChunkCheck = { chunked: true, chunks: 0, samples: 0, corrupt: [] };
  let catalogue: Map<number, SeriesRow>;
  try {
    catalogue = new Map(j.seriesCatalogue().map((s) => [s.id, s]));
  } catch {
    return { ...out, chunked: false };
  }
  const check = (c: StoredChunk): void => {
    out.chunks++;
    out.samples += decodeStoredColumns(c, catalogue.get(c.series_id), (x) => out.corrupt.push(x))?.t.length ?? 0;
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

/** A decoded chunk being read: its columns and the next sample to hand out. */
interface OpenChunk {
  /** Index into the read's `series`. */
  idx: number;
  t: Float64Array;
  v: Float64Array;
  pos: number;
  /** Past the last sample of the current slice. */
  end: number;
}

/**
 * One batch of samples as columns (no object per sample): row i is at `t[i]`, has value `v[i]` and belongs to
 * `series[s[i]]`; only the first `n` rows count. The arrays are reused by the next batch: read a batch before
 * asking for the next one.
 */
export interface SampleColumns {
  n: number;
  t: Float64Array;
  v: Float64Array;
  s: Int32Array;
  /** Every series seen so far in this read (grows; indices stay). */
  series: SeriesRow[];
}

/**
 * (t, series, position in the open list) order: a timestamp's samples come in series order, and a series'
 * duplicates (two open chunks of one series only meet across a wall-clock step back) in chunk order.
 */
function before(open: OpenChunk[], a: number, b: number): boolean {
  const oa = open[a] as OpenChunk;
  const ob = open[b] as OpenChunk;
  const ta = oa.t[oa.pos] as number;
  const tb = ob.t[ob.pos] as number;
  return ta < tb || (ta === tb && (oa.idx < ob.idx || (oa.idx === ob.idx && a < b)));
}

function siftDown(heap: Int32Array, size: number, open: OpenChunk[]): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) return;
    const r = l + 1;
    const m = r < size && before(open, heap[r] as number, heap[l] as number) ? r : l;
    if (!before(open, heap[m] as number, heap[i] as number)) return;
    const x = heap[i] as number;
    heap[i] = heap[m] as number;
    heap[m] = x;
    i = m;
  }
}

/** Merges what is left of the open chunks' samples up to their `end` into `out` from row `n` on, with a binary heap. */
function heapMerge(open: OpenChunk[], out: SampleColumns, heap: Int32Array, n: number): number {
  let size = 0;
  for (let i = 0; i < open.length; i++) {
    const o = open[i] as OpenChunk;
    if (o.pos >= o.end) continue;
    let k = size++;
    heap[k] = i;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (!before(open, heap[k] as number, heap[p] as number)) break;
      const x = heap[k] as number;
      heap[k] = heap[p] as number;
      heap[p] = x;
      k = p;
    }
  }
  const { t, v, s } = out;
  while (size > 0) {
    const o = open[heap[0] as number] as OpenChunk;
    t[n] = o.t[o.pos] as number;
    v[n] = o.v[o.pos] as number;
    s[n++] = o.idx;
    if (++o.pos >= o.end) heap[0] = heap[--size] as number;
    siftDown(heap, size, open);
  }
  return n;
}

/**
 * Merges the open chunks' samples up to their `end` into `out` in (t, series, open index) order. Series
 * sampled together share their timestamps, so it sweeps: find the smallest next timestamp, then take it
 * from every chunk in series order; when timestamps turn out not to be shared (the sweep costs more than
 * a few steps a sample), the rest goes through a heap, which gives the same order.
 */
function mergeSlice(open: OpenChunk[], out: SampleColumns, heap: Int32Array): void {
  const order: number[] = [];
  for (let i = 0; i < open.length; i++) if ((open[i] as OpenChunk).pos < (open[i] as OpenChunk).end) order.push(i);
  order.sort((a, b) => (open[a] as OpenChunk).idx - (open[b] as OpenChunk).idx || a - b);
  const live = order.map((i) => open[i] as OpenChunk);
  const { t, v, s } = out;
  let n = 0;
  let steps = 0;
  while (live.length > 0) {
    if (steps > 4 * n + 64) {
      out.n = heapMerge(open, out, heap, n);
      return;
    }
    let min = Number.POSITIVE_INFINITY;
    for (const o of live) if ((o.t[o.pos] as number) < min) min = o.t[o.pos] as number;
    let done = 0;
    for (const o of live) {
      while (o.pos < o.end && o.t[o.pos] === min) {
        t[n] = min;
        v[n] = o.v[o.pos] as number;
        s[n++] = o.idx;
        o.pos++;
      }
      if (o.pos >= o.end) done++;
    }
    steps += 2 * live.length;
    if (done > 0) {
      let w = 0;
      for (const o of live) if (o.pos < o.end) live[w++] = o;
      live.length = w;
    }
  }
  out.n = n;
}

/**
 * Samples stamped inside the window, in time order (samples of one timestamp in series order), as column
 * batches of one time slice each. Chunks are decoded once, as their first sample comes into a slice, and
 * dropped once read; empty stretches of time are skipped. Callers that must not hold the event loop yield
 * between batches.
 */
export function* columnBatches(j: HistoryReader, w: SampleWindow): Generator<SampleColumns> {
  const indexOf = new Map<number, number>();
  const out: SampleColumns = { n: 0, t: new Float64Array(1024), v: new Float64Array(1024), s: new Int32Array(1024), series: [] };
  const seriesIdx = (id: number): number | undefined => {
    if (!indexOf.has(id)) {
      for (const s of j.seriesCatalogue()) {
        if (indexOf.has(s.id)) continue;
        indexOf.set(s.id, out.series.length);
        out.series.push(s);
      }
    }
    return indexOf.get(id);
  };
  let open: OpenChunk[] = [];
  const take = (chunks: StoredChunk[]): void => {
    for (const c of chunks) {
      if (c.end_ms < w.sinceMs || c.start_ms > w.untilMs) continue;
      const idx = seriesIdx(c.series_id);
      const cols = decodeStoredColumns(c, idx === undefined ? undefined : out.series[idx], w.onCorrupt);
      if (!cols || idx === undefined) continue;
      let pos = 0;
      while (pos < cols.t.length && (cols.t[pos] as number) < w.sinceMs) pos++;
      if (pos < cols.t.length) open.push({ idx, t: cols.t, v: cols.v, pos, end: pos });
    }
  };
  let heap = new Int32Array(64);
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
    let total = 0;
    for (const o of open) {
      let e = o.pos;
      while (e < o.t.length && (o.t[e] as number) < b) e++;
      o.end = e;
      total += e - o.pos;
    }
    if (total > out.t.length) {
      const cap = Math.max(total, 2 * out.t.length);
      out.t = new Float64Array(cap);
      out.v = new Float64Array(cap);
      out.s = new Int32Array(cap);
    }
    if (open.length > heap.length) heap = new Int32Array(2 * open.length);
    mergeSlice(open, out, heap);
    open = open.filter((o) => o.pos < o.t.length && (o.t[o.pos] as number) <= w.untilMs);
    if (out.n > 0) yield out;
    a = b;
  }
}

/** The same read as columnBatches, a sample object per row (for callers that want them; slower). */
export function* sampleBatches(j: HistoryReader, w: SampleWindow): Generator<RawSample[]> {
  for (const c of columnBatches(j, w)) {
    const batch = new Array<RawSample>(c.n);
    for (let i = 0; i < c.n; i++) {
      const series = c.series[c.s[i] as number] as SeriesRow;
      batch[i] = { ts_ms: c.t[i] as number, name: series.name, value: c.v[i] as number, unit: series.unit, labels: series.labels };
    }
    yield batch;
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

/** Where a history read starts its raw samples, the aggregates before that, and how many samples are left to give. */
interface HistoryPlan {
  rawFrom: number | null;
  aggs: MetricAggregate[];
  left: number;
  corrupt: CorruptChunk[];
  onCorrupt: CorruptChunkHandler;
}

function planHistory(j: HistoryReader, q: HistoryQuery): HistoryPlan {
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
  return { rawFrom, aggs, left: q.limit - aggs.length, corrupt, onCorrupt };
}

/** Calls `each` for the plan's raw samples, in time order, up to its limit; `each` gets the batch and the row. */
function forEachRaw(j: HistoryReader, q: HistoryQuery, p: HistoryPlan, each: (c: SampleColumns, i: number) => void): number {
  let n = 0;
  if (p.rawFrom === null || p.left <= 0) return 0;
  for (const c of columnBatches(j, { sinceMs: Math.max(q.sinceMs, p.rawFrom), untilMs: Number.MAX_SAFE_INTEGER, name: q.name, onCorrupt: p.onCorrupt })) {
    const m = Math.min(c.n, p.left - n);
    for (let i = 0; i < m; i++) each(c, i);
    n += m;
    if (n >= p.left) break;
  }
  return n;
}

/** Samples of one pass share their timestamp: its ISO text is made once. */
function isoCache(): (ms: number) => string {
  let lastTs = Number.NaN;
  let lastIso = '';
  return (ms) => {
    if (ms !== lastTs) {
      lastTs = ms;
      lastIso = new Date(ms).toISOString();
    }
    return lastIso;
  };
}

function aggregatesOut(aggs: MetricAggregate[]): HistoryAnswer['aggregates'] {
  return aggs.map((a) => ({ minute: new Date(a.minute_ms).toISOString(), name: a.name, unit: a.unit, labels: a.labels, min: a.min, avg: a.avg, max: a.max, last: a.last, count: a.count }));
}

/**
 * History since a point in time: raw samples where retention still holds them, and one-minute
 * aggregates for the part before the oldest raw sample. Works on the daemon's journal and, read-only,
 * on the journal file when no daemon runs.
 */
export function readHistory(j: HistoryReader, q: HistoryQuery): HistoryAnswer {
  const p = planHistory(j, q);
  const samples: HistoryAnswer['samples'] = [];
  const labelsOf: Record<string, string>[] = [];
  const iso = isoCache();
  forEachRaw(j, q, p, (c, i) => {
    const k = c.s[i] as number;
    const series = c.series[k] as SeriesRow;
    let labels = labelsOf[k];
    if (!labels) labels = labelsOf[k] = JSON.parse(series.labels) as Record<string, string>;
    samples.push({ ts: iso(c.t[i] as number), name: series.name, value: c.v[i] as number, unit: series.unit, labels });
  });
  return {
    since: new Date(q.sinceMs).toISOString(),
    raw_from: p.rawFrom === null ? null : new Date(p.rawFrom).toISOString(),
    samples,
    aggregates: aggregatesOut(p.aggs),
    truncated: p.aggs.length + samples.length >= q.limit,
    corrupt_chunks: p.corrupt,
  };
}

/**
 * `JSON.stringify(readHistory(j, q))`, the same text, made without an object per sample: each series' fixed
 * parts are formatted once and the samples written straight into text pieces (`waveos metrics --json`).
 */
export function readHistoryJson(j: HistoryReader, q: HistoryQuery): { json: string; corrupt: CorruptChunk[] } {
  const r = readHistoryJsonBytes(j, q);
  return { json: Buffer.concat(r.parts).toString(), corrupt: r.corrupt };
}

/** readHistoryJson as UTF-8 pieces to write out in order (no 10 MB string made and copied again on output). */
export function readHistoryJsonBytes(j: HistoryReader, q: HistoryQuery): { parts: Buffer[]; corrupt: CorruptChunk[] } {
  const p = planHistory(j, q);
  // Pieces go to bytes as they fill: text held until the end would be copied by every young-generation collection.
  const parts: Buffer[] = [];
  const heads: string[] = [];
  const tails: string[] = [];
  const iso = isoCache();
  // A piece's rows are joined once (one flat string) rather than appended one by one (a rope to flatten).
  let rows: string[] = [];
  let sep = '';
  const n = forEachRaw(j, q, p, (c, i) => {
    const k = c.s[i] as number;
    let head = heads[k];
    if (head === undefined) {
      const s = c.series[k] as SeriesRow;
      head = heads[k] = `","name":${JSON.stringify(s.name)},"value":`;
      tails[k] = `,"unit":${JSON.stringify(s.unit)},"labels":${JSON.stringify(JSON.parse(s.labels))}}`;
    }
    const v = c.v[i] as number;
    rows.push(`${sep}{"ts":"${iso(c.t[i] as number)}${head}${Number.isFinite(v) ? String(v) : 'null'}${tails[k] as string}`);
    sep = ',';
    if (rows.length >= 256) {
      parts.push(Buffer.from(rows.join('')));
      rows = [];
    }
  });
  parts.push(Buffer.from(rows.join('')));
  const head = `{"since":${JSON.stringify(new Date(q.sinceMs).toISOString())},"raw_from":${JSON.stringify(p.rawFrom === null ? null : new Date(p.rawFrom).toISOString())},"samples":[`;
  const tail = `],"aggregates":${JSON.stringify(aggregatesOut(p.aggs))},"truncated":${p.aggs.length + n >= q.limit},"corrupt_chunks":${JSON.stringify(p.corrupt)}}`;
  return { parts: [Buffer.from(head), ...parts, Buffer.from(tail)], corrupt: p.corrupt };
}
