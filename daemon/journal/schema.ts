import type Database from 'better-sqlite3';
import { convertLegacySamples, sealHeadTable } from './chunk-migration.js';
import { headSegments, readHeadLog } from './head-log.js';
import { decodeChunkColumns } from '../telemetry/chunk-codec.js';

/**
 * A migration is SQL run in one transaction, or a step that makes its own transactions (a conversion too big
 * for one) and sets `user_version` itself in its last one, so that a step killed half-way resumes.
 */
type Migration = string | ((db: Database.Database, version: number) => void);

const AGGREGATES_BY_SERIES = `
  INSERT OR IGNORE INTO series (name, unit, labels) SELECT name, unit, labels FROM metrics_1m GROUP BY name, labels ORDER BY min(id);
  CREATE TABLE metrics_1m_v8 (
    id INTEGER PRIMARY KEY,
    minute_ms INTEGER NOT NULL,
    series_id INTEGER NOT NULL REFERENCES series(id),
    min REAL NOT NULL,
    avg REAL NOT NULL,
    max REAL NOT NULL,
    last REAL NOT NULL,
    count INTEGER NOT NULL,
    UNIQUE (minute_ms, series_id)
  );
  INSERT INTO metrics_1m_v8 (id, minute_ms, series_id, min, avg, max, last, count)
    SELECT m.id, m.minute_ms, s.id, m.min, m.avg, m.max, m.last, m.count FROM metrics_1m m JOIN series s ON s.name = m.name AND s.labels = m.labels ORDER BY m.id;
  DROP TABLE metrics_1m;
  ALTER TABLE metrics_1m_v8 RENAME TO metrics_1m;
`;

/** Schema 8 (below); a table already in the new layout (a file whose user_version was set back) is left as it is. */
function aggregatesBySeries(db: Database.Database, version: number): void {
  db.transaction(() => {
    const cols = (db.pragma('table_info(metrics_1m)') as { name: string }[]).map((c) => c.name);
    if (cols.includes('name')) db.exec(AGGREGATES_BY_SERIES);
    db.pragma(`user_version = ${version}`);
  })();
}

/**
 * Schema 9 (below): the fold boundary. A build before it aggregated every sample as it was captured; from it
 * on, samples are folded into the aggregates when their chunk is deleted. A sample of the old build's is
 * before both the end of the newest aggregate minute and its newest stored sample (chunks and head log), so
 * samples before the earlier of the two are not folded again. A journal without aggregates folds everything.
 * One transaction; a boundary already recorded is kept.
 */
function aggregateFoldBoundary(db: Database.Database, version: number): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS aggregate_fold (id INTEGER PRIMARY KEY CHECK (id = 1), before_ms INTEGER NOT NULL)');
    const agg = (db.prepare('SELECT max(minute_ms) AS m FROM metrics_1m').get() as { m: number | null }).m;
    if (agg !== null) {
      let newest = (db.prepare('SELECT max(end_ms) AS m FROM chunks').get() as { m: number | null }).m ?? Number.MIN_SAFE_INTEGER;
      if (!db.memory && headSegments(db.name).length > 0)
        for (const p of readHeadLog(db.name).pieces) {
          try {
            const { t } = decodeChunkColumns(p.data);
            for (const x of t) if (x > newest) newest = x;
          } catch {
            // a piece that fails its check is never read as data, so never folded either
          }
        }
      const before = newest === Number.MIN_SAFE_INTEGER ? agg + 60_000 : Math.min(agg + 60_000, newest + 1);
      db.prepare('INSERT OR IGNORE INTO aggregate_fold (id, before_ms) VALUES (1, ?)').run(before);
    }
    db.pragma(`user_version = ${version}`);
  })();
}

/** Numbered, append-only: a migration once shipped is never edited, only followed by another. */
const MIGRATIONS: readonly Migration[] = [
  `
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    mono_ms INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE INDEX events_kind ON events(kind);
  CREATE INDEX events_ts ON events(ts);
  CREATE TABLE state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_ts TEXT NOT NULL
  );
  CREATE TABLE intents (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    params TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'interrupted')),
    outcome TEXT,
    intent_seq INTEGER NOT NULL,
    outcome_seq INTEGER,
    created_ts TEXT NOT NULL,
    finished_ts TEXT
  );
  CREATE INDEX intents_pending ON intents(status) WHERE status = 'pending';
  CREATE TABLE metrics (
    id INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    labels TEXT NOT NULL
  );
  CREATE INDEX metrics_name_ts ON metrics(name, ts_ms);
  `,
  // 2: one-minute aggregates of metric samples, kept longer than the raw rows (telemetry retention).
  `
  CREATE TABLE metrics_1m (
    id INTEGER PRIMARY KEY,
    minute_ms INTEGER NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    labels TEXT NOT NULL,
    min REAL NOT NULL,
    avg REAL NOT NULL,
    max REAL NOT NULL,
    last REAL NOT NULL,
    count INTEGER NOT NULL,
    UNIQUE (name, labels, minute_ms)
  );
  CREATE INDEX metrics_1m_minute ON metrics_1m(minute_ms);
  `,
  // 3: each event's format version (docs/formats/journal.md): the rule its hash was made by. Rows written
  // before it are version 1; the writer sets it on every row from here on.
  `
  ALTER TABLE events ADD COLUMN v INTEGER NOT NULL DEFAULT 1;
  `,
  // 4: the head mark, outside the chain: the seq and hash of the last event, moved in the same transaction
  // as every append, so a verifier can tell a journal whose last rows were deleted from one that ended there.
  `
  CREATE TABLE journal_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
  );
  INSERT INTO journal_head (id, seq, hash)
    SELECT 1, coalesce(max(seq), 0), coalesce((SELECT hash FROM events ORDER BY seq DESC LIMIT 1), '${'0'.repeat(64)}') FROM events;
  `,
  // 5: metric history as a series catalogue and compressed chunks (docs/formats/chunks.md, "Stored layout").
  // `chunks` holds sealed chunks, never changed once written; `head_chunks` the pieces of each series' open
  // chunk: each flush appends one piece holding that series' samples since the previous flush, and the pieces
  // go when their chunk is sealed (so a flush writes only what is new, not the whole open chunk again). No
  // index on it: the table holds a few thousand small rows, and an index would be more pages to write.
  `
  CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    labels TEXT NOT NULL,
    UNIQUE (name, labels)
  );
  CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL REFERENCES series(id),
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    data BLOB NOT NULL
  );
  CREATE INDEX IF NOT EXISTS chunks_start ON chunks(start_ms);
  CREATE INDEX IF NOT EXISTS chunks_series_start ON chunks(series_id, start_ms);
  CREATE TABLE IF NOT EXISTS head_chunks (
    id INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL REFERENCES series(id),
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    data BLOB NOT NULL
  );
  `,
  // 6: every row of the old one-row-per-sample table becomes part of a chunk, in batches that each commit on
  // their own (resumable); the empty table goes in the last one.
  convertLegacySamples,
  // 7: the open chunks' pieces leave the head_chunks table for the head log (head-log.ts); the pieces there are
  // sealed into chunks and the table dropped.
  sealHeadTable,
  // 8: one-minute aggregates keyed by series and in minute order. Each row named its series in text (name,
  // unit, labels) and the unique index was ordered by name, so a minute's rows went into as many index pages
  // as there were series, all over the file (hundreds of pages a minute once a month of aggregates is kept).
  // Now a row holds the series id, and the index starts with the minute: a minute's rows append at the end.
  // Ids are kept (retention and the quota go by id). One transaction.
  aggregatesBySeries,
  // 9: one-minute aggregates are made when raw chunks are deleted, not every minute (journal.ts, foldChunks);
  // the boundary before which an earlier build had already aggregated every sample.
  aggregateFoldBoundary,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Applies the migrations the file has not seen yet, each in its own transaction; `upTo` stops earlier (to
 * make a journal as an older WaveOS left it, for tests of what a newer one makes of it).
 */
export function migrateSchema(db: Database.Database, upTo = MIGRATIONS.length): number[] {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`journal schema version ${current} is newer than this WaveOS understands (${MIGRATIONS.length})`);
  }
  const applied: number[] = [];
  for (let v = current; v < Math.min(upTo, MIGRATIONS.length); v++) {
    const m = MIGRATIONS[v] as Migration;
    if (typeof m === 'function') m(db, v + 1);
    else
      db.transaction(() => {
        db.exec(m);
        db.pragma(`user_version = ${v + 1}`);
      })();
    applied.push(v + 1);
  }
  return applied;
}
