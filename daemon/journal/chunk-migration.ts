import type Database from 'better-sqlite3';
import { chunkSamples } from './chunk-store.js';

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
