import type Database from 'better-sqlite3';
import { type Sample, decodeChunk } from '../telemetry/chunk-codec.js';
import { type ChunkRow, chunkSamples } from './chunk-store.js';

/** Old rows converted per transaction: a kill loses at most one batch's work, never a sample. */
export const LEGACY_BATCH_ROWS = 20_000;

/**
 * Schema 6: the samples of the one-row-per-sample `metrics` table become chunks. Each batch — up to
 * LEGACY_BATCH_ROWS of one series, oldest first — is encoded, inserted as chunks and deleted from `metrics`
 * in one transaction, so the rows left in `metrics` are the progress: a migration killed half-way goes on
 * from there at the next open and no sample is lost or converted twice. The empty table is dropped and
 * `user_version` set in the last transaction, which also moves the artifacts cursor (it counted old row ids)
 * past the converted chunks: their samples were exported when they were rows.
 */
export function convertLegacySamples(db: Database.Database, version: number): void {
  while (convertLegacyBatch(db)) {
    /* one series' batch per transaction */
  }
  db.transaction(() => {
    db.exec('DROP TABLE IF EXISTS metrics');
    db.prepare("UPDATE state SET value = json_set(value, '$.metrics_id', (SELECT coalesce(max(id), 0) FROM chunks)) WHERE key = 'artifacts.cursor'").run();
    db.pragma(`user_version = ${version}`);
  })();
}

/** Converts one batch in one transaction; false when no old row is left. */
export function convertLegacyBatch(db: Database.Database): boolean {
  if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'metrics'").get() === undefined) return false;
  return db.transaction((): boolean => {
    const s = db.prepare('SELECT name, unit, labels FROM metrics ORDER BY id LIMIT 1').get() as { name: string; unit: string; labels: string } | undefined;
    if (!s) return false;
    const rows = db.prepare('SELECT id, ts_ms, value FROM metrics WHERE name = ? AND labels = ? ORDER BY ts_ms, id LIMIT ?').all(s.name, s.labels, LEGACY_BATCH_ROWS) as {
      id: number;
      ts_ms: number;
      value: number;
    }[];
    db.prepare('INSERT INTO series (name, unit, labels) VALUES (?, ?, ?) ON CONFLICT (name, labels) DO NOTHING').run(s.name, s.unit, s.labels);
    const sid = (db.prepare('SELECT id FROM series WHERE name = ? AND labels = ?').get(s.name, s.labels) as { id: number }).id;
    const insert = db.prepare('INSERT INTO chunks (series_id, start_ms, end_ms, count, data) VALUES (?, ?, ?, ?, ?)');
    for (const c of chunkSamples(
      sid,
      rows.map((r) => ({ t: r.ts_ms, v: r.value })),
    ))
      insert.run(c.series_id, c.start_ms, c.end_ms, c.count, c.data);
    const del = db.prepare('DELETE FROM metrics WHERE id = ?');
    for (const r of rows) del.run(r.id);
    return true;
  })();
}

/**
 * Pieces of open chunks (in series order, and in time order within one) joined into sealed chunks as they
 * stand: the pieces of one open chunk — one series and one `head_start_ms` — become one chunk (or more, by
 * the sealing rules). A piece that does not decode is kept as it is, for the reader to report; an open chunk
 * of which a sealed chunk starting where it started is stored already is skipped (sealed before).
 */
export function sealPieces(db: Database.Database, pieces: readonly (ChunkRow & { head_start_ms: number })[]): ChunkRow[] {
  const out: ChunkRow[] = [];
  const stored = db.prepare('SELECT 1 FROM chunks WHERE series_id = ? AND start_ms = ? LIMIT 1');
  const groups = new Map<string, (ChunkRow & { head_start_ms: number })[]>();
  for (const p of pieces) {
    const k = `${p.series_id}:${p.head_start_ms}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(p);
  }
  for (const g of groups.values()) {
    const first = g[0] as ChunkRow & { head_start_ms: number };
    if (stored.get(first.series_id, first.head_start_ms) !== undefined) continue;
    let samples: Sample[] = [];
    for (const p of g) {
      try {
        samples.push(...decodeChunk(p.data));
      } catch {
        out.push(...chunkSamples(p.series_id, samples), { series_id: p.series_id, start_ms: p.start_ms, end_ms: p.end_ms, count: p.count, data: p.data });
        samples = [];
      }
    }
    out.push(...chunkSamples(first.series_id, samples));
  }
  return out;
}

/**
 * Schema 7: the open chunks' pieces move out of the `head_chunks` table (each flush inserted a row per series,
 * and sealing deleted rows all over it: the pages written were many times the samples) into the head log
 * (head-log.ts). The pieces a previous run left are sealed into `chunks` as they stand, exactly as the next
 * start would have, and the table is dropped, in one transaction: a kill before its commit leaves schema 6
 * as it was, to do again.
 */
export function sealHeadTable(db: Database.Database, version: number): void {
  db.transaction(() => {
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'head_chunks'").get() !== undefined) {
      const rows = db.prepare('SELECT series_id, start_ms, end_ms, count, data FROM head_chunks ORDER BY series_id, id').all() as ChunkRow[];
      // A series had one open chunk at a time: all of its pieces belong to it.
      const startOf = new Map<number, number>();
      for (const r of rows) if (!startOf.has(r.series_id)) startOf.set(r.series_id, r.start_ms);
      const insert = db.prepare('INSERT INTO chunks (series_id, start_ms, end_ms, count, data) VALUES (?, ?, ?, ?, ?)');
      for (const c of sealPieces(
        db,
        rows.map((r) => ({ ...r, head_start_ms: startOf.get(r.series_id) as number })),
      ))
        insert.run(c.series_id, c.start_ms, c.end_ms, c.count, c.data);
      db.exec('DROP TABLE head_chunks');
    }
    db.pragma(`user_version = ${version}`);
  })();
}
