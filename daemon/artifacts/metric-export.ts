import type { ExportCursor, JournalReader, MetricSample, SeriesRow, StoredChunk } from '../journal/index.js';
import { type CorruptChunkHandler, decodeStored } from '../telemetry/history-query.js';

/** Sealed chunks read per step. */
const CHUNKS_PER_STEP = 500;

/** Where metric export stands: sealed chunks up to `metrics_id`, and how much of each series' head chunk. */
type MetricCursor = Pick<ExportCursor, 'metrics_id' | 'metric_heads'>;

/**
 * The samples the artifacts' metrics.csv has not had yet, read from the chunks through the history reader:
 * sealed chunks after the cursor's chunk id, then what each open chunk (its pieces joined) gained since the
 * last pass. An open chunk is known by its series and first timestamp, so the part of it already exported is skipped once it is
 * sealed (by this run, or by the next one's start). Each step's samples come sorted by time.
 */
export class MetricExport {
  private readonly series = new Map<number, SeriesRow & { parsed: Record<string, string> }>();

  constructor(
    private readonly journal: JournalReader,
    private readonly onCorrupt: CorruptChunkHandler | undefined,
  ) {}

  /** Calls `write` with each step's samples and the cursor that holds once they are written out. */
  pending(cursor: MetricCursor, write: (rows: MetricSample[], next: MetricCursor) => void): void {
    const heads = { ...(cursor.metric_heads ?? {}) };
    let id = cursor.metrics_id;
    for (;;) {
      const chunks = this.journal.chunksAfter(id, CHUNKS_PER_STEP);
      if (chunks.length === 0) break;
      const rows: MetricSample[] = [];
      for (const c of chunks) {
        const h = heads[String(c.series_id)];
        const skip = h && h[0] === c.start_ms ? h[1] : 0;
        if (skip > 0) delete heads[String(c.series_id)];
        this.add(rows, c, skip, Infinity);
      }
      id = (chunks[chunks.length - 1] as StoredChunk).id as number;
      write(sorted(rows), { metrics_id: id, metric_heads: { ...heads } });
    }
    const next: Record<string, [number, number]> = {};
    const rows: MetricSample[] = [];
    for (const head of this.openChunks(heads)) {
      for (const x of head.samples) rows.push(x);
      next[String(head.series_id)] = [head.start_ms, head.count];
    }
    if (rows.length > 0 || Object.keys(next).length !== Object.keys(cursor.metric_heads ?? {}).length) write(sorted(rows), { metrics_id: id, metric_heads: next });
  }

  /**
   * What the cursor says was exported since `afterChunkId`: the sealed chunks up to its chunk id, and the
   * exported part of each head it names (a rebuilt metrics.csv).
   */
  exported(afterChunkId: number, cursor: MetricCursor): MetricSample[] {
    const rows: MetricSample[] = [];
    for (let id = afterChunkId; id < cursor.metrics_id; ) {
      const chunks = this.journal.chunksAfter(id, CHUNKS_PER_STEP).filter((c) => (c.id as number) <= cursor.metrics_id);
      if (chunks.length === 0) break;
      for (const c of chunks) this.add(rows, c, 0, Infinity);
      id = (chunks[chunks.length - 1] as StoredChunk).id as number;
    }
    const heads = cursor.metric_heads ?? {};
    for (const c of this.journal.chunksAfter(cursor.metrics_id, 100_000)) {
      const h = heads[String(c.series_id)];
      if (h && h[0] === c.start_ms) this.add(rows, c, 0, h[1]);
    }
    for (const head of this.openChunks()) {
      const h = heads[String(head.series_id)];
      if (h && h[0] === head.start_ms) rows.push(...head.samples.slice(0, h[1]));
    }
    return sorted(rows);
  }

  /**
   * Each series' open chunk, known by its first timestamp: how many samples it holds, and those past what
   * `exported` says was written out. Pieces wholly written out already are not decoded again (an open chunk
   * holds up to CHUNK_MAX_SAMPLES, and this runs every flush interval).
   */
  private openChunks(exported: Record<string, [number, number]> = {}): { series_id: number; start_ms: number; count: number; samples: MetricSample[] }[] {
    const out: { series_id: number; start_ms: number; count: number; samples: MetricSample[] }[] = [];
    for (const c of this.journal.headChunks()) {
      const last = out[out.length - 1];
      const head = last?.series_id === c.series_id ? last : { series_id: c.series_id, start_ms: c.start_ms, count: 0, samples: [] };
      if (head !== last) out.push(head);
      const h = exported[String(c.series_id)];
      const skip = h && h[0] === head.start_ms ? h[1] : 0;
      if (head.count + c.count <= skip) {
        head.count += c.count;
        continue;
      }
      const got: MetricSample[] = [];
      this.add(got, c, 0, Infinity);
      for (let i = Math.max(0, skip - head.count); i < got.length; i++) head.samples.push(got[i] as MetricSample);
      head.count += got.length;
    }
    return out;
  }

  private add(rows: MetricSample[], c: StoredChunk, from: number, to: number): void {
    const s = this.seriesOf(c.series_id);
    const samples = decodeStored(c, s, this.onCorrupt);
    if (!samples || !s) return;
    const end = Math.min(to, samples.length);
    for (let i = from; i < end; i++) {
      const x = samples[i] as { t: number; v: number };
      rows.push({ ts_ms: x.t, name: s.name, value: x.v, unit: s.unit, labels: s.parsed });
    }
  }

  private seriesOf(id: number): (SeriesRow & { parsed: Record<string, string> }) | undefined {
    if (!this.series.has(id)) for (const s of this.journal.seriesCatalogue()) this.series.set(s.id, { ...s, parsed: JSON.parse(s.labels) as Record<string, string> });
    return this.series.get(id);
  }
}

function sorted(rows: MetricSample[]): MetricSample[] {
  return rows.sort((a, b) => a.ts_ms - b.ts_ms);
}
