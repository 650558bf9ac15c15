import { ChunkAppender } from '../telemetry/chunk-codec.js';

/**
 * A chunk is sealed once it holds this many samples (30 minutes at 1 Hz: bigger chunks pack SQLite's pages
 * better and need fewer rows and index entries; at 240 an hour of history took 7.6 bytes a sample on disk,
 * at 1,800 5.8)...
 */
export const CHUNK_MAX_SAMPLES = 1_800;
/** ...or a sample would make it span this long (so a reader looking back this far finds every chunk a time falls in). */
export const CHUNK_MAX_SPAN_MS = 30 * 60_000;

/** One stored chunk as the `chunks` and `head_chunks` tables hold it (docs/formats/chunks.md, "Stored layout"). */
export interface ChunkRow {
  series_id: number;
  start_ms: number;
  end_ms: number;
  count: number;
  data: Uint8Array;
}

/** A chunk read back: `id` is null for a piece of a head chunk (the open chunk of its series; each flush appends a piece). */
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

export interface StoredChunk extends ChunkRow {
  id: number | null;
}

/** A series in the catalogue: labels as the canonical JSON text they are stored as. */
export interface SeriesRow {
  id: number;
  name: string;
  unit: string;
  labels: string;
}

/**
 * One series' open chunk. Timestamps inside a chunk never go backwards: a sample stamped before the chunk's
 * last one (the wall clock stepped back) does not fit, and its series starts a new chunk. A sample with the
 * same timestamp as the last one (a duplicate) is kept.
 */
export class HeadChunk {
  private a = new ChunkAppender();
  start = 0;
  end = 0;

  constructor(readonly seriesId: number) {}

  get count(): number {
    return this.a.count;
  }

  /** Whether a sample stamped `t` goes in this chunk; when not, seal this one and open another. */
  fits(t: number): boolean {
    if (this.a.count === 0) return true;
    return this.a.count < CHUNK_MAX_SAMPLES && t >= this.end && t - this.start < CHUNK_MAX_SPAN_MS;
  }

  append(t: number, v: number): void {
    if (this.a.count === 0) this.start = t;
    this.a.append(t, v);
    this.end = t;
  }

  row(): ChunkRow {
    return { series_id: this.seriesId, start_ms: this.start, end_ms: this.end, count: this.a.count, data: this.a.bytes() };
  }
}

/** Samples of one series, in the order given, cut into chunks by the same rules as the live history's. */
export function chunkSamples(seriesId: number, samples: readonly { t: number; v: number }[]): ChunkRow[] {
  const out: ChunkRow[] = [];
  let head = new HeadChunk(seriesId);
  for (const s of samples) {
    if (!head.fits(s.t)) {
      out.push(head.row());
      head = new HeadChunk(seriesId);
    }
    head.append(s.t, s.v);
  }
  if (head.count > 0) out.push(head.row());
  return out;
}
