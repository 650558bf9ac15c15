import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock, pathsFor } from '../daemon/core/index.js';
import { CHUNK_MAX_SAMPLES, Journal, JournalReader, LEGACY_BATCH_ROWS, type StoredChunk, migrateSchema } from '../daemon/journal/index.js';
import { type CorruptChunk, decodeStored } from '../daemon/telemetry/history-query.js';
import { PowercutFs, ensurePowercutFs } from '../hil-sim/powercut/powercut.js';
import { DaemonProcess, cli, removeRoot, sleep, tempRoot, waitFor } from './helpers/daemon.js';

// Metric history through real processes: the daemon SIGKILLed, and the power cut under it (powercut-fs: what
// was not fsynced is gone), during chunk writes, during the migration from one row per sample, and during
// retention. After each: `waveos journal verify` passes, no chunk fails its check, and the samples lost
// stay within the stated bound (one telemetry.flush_interval, plus the sample in flight).

const FLUSH_MS = 2_000;
const SAMPLE_MS = 1_000;
/** Time for the kill itself and for the last sampling pass to be stamped before the kill is. */
const SLACK_MS = 1_500;

/** The config, outside the power-cut mount: a cut would take back a file nobody fsynced. */
function config(dir: string, extra: string[] = []): string {
  const file = join(dir, `history-${extra.length}.yaml`);
  writeFileSync(file, ['schema_version: 2', 'telemetry:', `  sample_interval: ${SAMPLE_MS / 1000}s`, `  flush_interval: ${FLUSH_MS / 1000}s`, ...extra, ''].join('\n'));
  return file;
}

interface Stored {
  samples: number;
  newest: number | null;
  corrupt: CorruptChunk[];
  chunks: number;
}

/** Every chunk, sealed and head, decoded and checked. */
function readAll(db: string): Stored {
  const r = JournalReader.openReadOnly(db);
  try {
    const series = new Map(r.seriesCatalogue().map((s) => [s.id, s]));
    const corrupt: CorruptChunk[] = [];
    let samples = 0;
    let newest: number | null = null;
    const chunks: StoredChunk[] = [...r.chunksStartingIn(Number.MIN_SAFE_INTEGER + 1, Number.MAX_SAFE_INTEGER)];
    for (const c of chunks) {
      const got = decodeStored(c, series.get(c.series_id), (x) => corrupt.push(x));
      if (!got) continue;
      samples += got.length;
      for (const s of got) if (newest === null || s.t > newest) newest = s.t;
    }
    return { samples, newest, corrupt, chunks: chunks.length };
  } finally {
    r.close();
  }
}

/**
 * Per series named old_*: samples in the one-minute aggregates (folded when their chunk was deleted) plus
 * those in the raw chunks, and the sum of their values both ways.
 */
function oldSeriesTotals(db: string): Map<string, { count: number; sum: number }> {
  const r = JournalReader.openReadOnly(db);
  try {
    const out = new Map<string, { count: number; sum: number }>();
    const add = (name: string, count: number, sum: number): void => {
      const t = out.get(name) ?? { count: 0, sum: 0 };
      t.count += count;
      t.sum += sum;
      out.set(name, t);
    };
    for (const a of r.aggregatesSince({ sinceMs: 0, limit: 10_000_000 })) if (a.name.startsWith('old_')) add(a.name, a.count, a.avg * a.count);
    const series = new Map(r.seriesCatalogue().map((s) => [s.id, s]));
    for (const c of r.chunksStartingIn(Number.MIN_SAFE_INTEGER + 1, Number.MAX_SAFE_INTEGER)) {
      const name = series.get(c.series_id)?.name ?? '';
      if (!name.startsWith('old_')) continue;
      const got = decodeStored(c, series.get(c.series_id), undefined) ?? [];
      add(name, got.length, got.reduce((n, x) => n + x.v, 0));
    }
    return out;
  } finally {
    r.close();
  }
}

function verifies(root: string): void {
  const v = cli(['journal', 'verify', '--root', root]);
  expect(v.code, v.stdout + v.stderr).toBe(0);
}

/** The newest sample of one of the daemon's own series: telemetry samples itself every pass. */
function newestOwnSample(db: string): number | null {
  return readAll(db).newest;
}

/** A journal as the row-per-sample history left it: schema 4 and its `metrics` rows, written with its statement. */
function legacyJournal(db: string, series: number, perSeries: number, t0: number): { rows: number; sum: number } {
  mkdirSync(join(db, '..'), { recursive: true });
  const d = new Database(db);
  d.pragma('journal_mode = WAL');
  migrateSchema(d, 4);
  const ins = d.prepare('INSERT INTO metrics (ts_ms, name, value, unit, labels) VALUES (?,?,?,?,?)');
  let sum = 0;
  d.transaction(() => {
    for (let i = 0; i < perSeries; i++)
      for (let k = 0; k < series; k++) {
        const v = (i % 97) + k / 8;
        sum += v;
        ins.run(t0 + i * 1000, `legacy_${k % 4}`, v, 'ratio', JSON.stringify({ idx: String(k) }));
      }
  })();
  d.close();
  return { rows: series * perSeries, sum };
}

/** Samples named legacy_* stored as chunks: their count and the sum of their values. */
function legacyStored(db: string): { rows: number; sum: number } {
  const r = JournalReader.openReadOnly(db);
  try {
    const series = new Map(r.seriesCatalogue().map((s) => [s.id, s]));
    let rows = 0;
    let sum = 0;
    for (const c of r.chunksStartingIn(0, Number.MAX_SAFE_INTEGER)) {
      if (!series.get(c.series_id)?.name.startsWith('legacy_')) continue;
      for (const s of decodeStored(c, series.get(c.series_id), undefined) ?? []) {
        rows++;
        sum += s.v;
      }
    }
    return { rows, sum };
  } finally {
    r.close();
  }
}

function legacyLeft(db: string): number | undefined {
  try {
    const d = new Database(db, { readonly: true, fileMustExist: true });
    try {
      const t = d.prepare("SELECT 1 FROM sqlite_master WHERE name = 'metrics'").get();
      const c = d.prepare("SELECT 1 FROM sqlite_master WHERE name = 'chunks'").get();
      if (!t || !c) return undefined;
      const n = (d.prepare('SELECT count(*) AS n FROM chunks').get() as { n: number }).n;
      return n > 0 ? (d.prepare('SELECT count(*) AS n FROM metrics').get() as { n: number }).n : undefined;
    } finally {
      d.close();
    }
  } catch {
    return undefined;
  }
}

/** Starts the daemon on a legacy journal and kills it once the conversion has committed some batches but not all. */
async function killDuringMigration(root: string, cfg: string, kill: () => Promise<void>): Promise<number> {
  const db = pathsFor(root).db;
  const d = new DaemonProcess(root, ['--config', cfg]);
  const left = await waitFor('the migration half-way', () => legacyLeft(db), 60_000, 5);
  await d.kill('SIGKILL');
  await kill();
  return left;
}

describe('metric history under SIGKILL', () => {
  let root: string;
  beforeAll(() => {
    root = tempRoot('waveos-history-kill-');
  });
  afterAll(() => removeRoot(root));

  it('during chunk writes: every kill loses at most one flush interval, no chunk is corrupt, the journal verifies', { timeout: 120_000 }, async () => {
    const cfg = config(root);
    const db = pathsFor(root).db;
    let before = 0;
    for (const waitMs of [4_300, 6_100, 3_700]) {
      const d = new DaemonProcess(root, ['--config', cfg]);
      await d.ready();
      await sleep(waitMs);
      const killedAt = Date.now();
      await d.kill('SIGKILL');
      const s = readAll(db);
      expect(s.corrupt).toEqual([]);
      expect(s.newest).not.toBeNull();
      expect(killedAt - (s.newest as number)).toBeLessThanOrEqual(FLUSH_MS + SAMPLE_MS + SLACK_MS);
      // What earlier runs stored is all still there.
      expect(s.samples).toBeGreaterThan(before);
      before = s.samples;
      verifies(root);
    }
    // A clean start after the kills seals the heads they left; a clean stop seals its own.
    const d = new DaemonProcess(root, ['--config', cfg]);
    await d.ready();
    await d.kill('SIGTERM');
    const r = JournalReader.openReadOnly(db);
    expect(r.headChunks()).toEqual([]);
    r.close();
    expect(readAll(db).samples).toBeGreaterThan(before);
    verifies(root);
  });

  it('journal verify checks every chunk: a flipped bit fails it, naming the chunk; the daemon reports it and reads on', { timeout: 60_000 }, async () => {
    const db = pathsFor(root).db;
    const ok = cli(['journal', 'verify', '--root', root, '--json']);
    expect(ok.code).toBe(0);
    const before = (JSON.parse(ok.stdout) as { metric_chunks: { chunks: number; samples: number; corrupt: unknown[] } }).metric_chunks;
    expect(before.chunks).toBeGreaterThan(0);
    expect(before.corrupt).toEqual([]);
    const d = new Database(db);
    const c = d.prepare('SELECT id, data FROM chunks ORDER BY id LIMIT 1').get() as { id: number; data: Buffer };
    c.data[c.data.length - 6] = (c.data[c.data.length - 6] as number) ^ 1;
    d.prepare('UPDATE chunks SET data = ? WHERE id = ?').run(c.data, c.id);
    d.close();
    const bad = cli(['journal', 'verify', '--root', root]);
    expect(bad.code).toBe(5);
    expect(bad.stderr).toMatch(new RegExp(`1 metric chunk\\(s\\) failed their check, the first chunk ${c.id} `));
    // Offline history leaves it out and says so.
    const h = cli(['metrics', '--root', root, '--since', '1d', '--json']);
    expect(h.code).toBe(0);
    expect(h.stderr).toMatch(/failed its check \(checksum\) and is left out/);
    expect((JSON.parse(h.stdout) as { history: { corrupt_chunks: { chunk_id: number }[] } }).history.corrupt_chunks.map((x) => x.chunk_id)).toEqual([c.id]);
    // The daemon reads on and records it once, as an event.
    const dm = new DaemonProcess(root, ['--config', config(root)]);
    await dm.ready();
    cli(['metrics', '--root', root, '--since', '1d', '--json']);
    cli(['metrics', '--root', root, '--since', '1d', '--json']);
    await dm.kill('SIGTERM');
    const r = JournalReader.openReadOnly(db);
    expect(r.events({ kind: 'telemetry.chunk_corrupt' }).map((e) => e.data.chunk_id)).toEqual([c.id]);
    r.close();
  });

  it('during the migration: the next start finishes it, with every old sample exactly once', { timeout: 180_000 }, async () => {
    const r2 = tempRoot('waveos-history-migrate-');
    try {
      const db = pathsFor(r2).db;
      const want = legacyJournal(db, 24, 12_000, Date.UTC(2026, 0, 1));
      expect(want.rows).toBeGreaterThan(10 * LEGACY_BATCH_ROWS);
      const left = await killDuringMigration(r2, config(r2), async () => undefined);
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThan(want.rows);
      const j = Journal.openWriter(db, { clock: new FakeClock(), runId: 'check', bootId: 'b' });
      j.close();
      const got = legacyStored(db);
      expect(got.rows).toBe(want.rows);
      expect(got.sum).toBeCloseTo(want.sum, 3);
      expect(readAll(db).corrupt).toEqual([]);
      verifies(r2);
    } finally {
      removeRoot(r2);
    }
  });
});

describe('metric history under power cuts (powercut-fs)', () => {
  let base: string;
  let fs: PowercutFs;
  let mnt: string;

  beforeAll(async () => {
    await ensurePowercutFs();
    base = join(tmpdir(), `waveos-history-powercut-${process.pid}`);
    rmSync(base, { recursive: true, force: true });
    mnt = join(base, 'mnt');
    fs = new PowercutFs(mnt, join(base, 'disk'), join(base, 'stats.json'), join(base, 'fs.log'));
    fs.mount();
  }, 600_000);

  afterAll(async () => {
    await fs?.unmount();
    if (base && !fs?.mounted) rmSync(base, { recursive: true, force: true });
  });

  const cut = async (): Promise<void> => {
    await fs.cut();
    fs.mount();
  };

  it('during chunk writes: what was flushed survives, at most one flush interval is lost, nothing comes back corrupt', { timeout: 120_000 }, async () => {
    const root = join(mnt, 'writes');
    mkdirSync(root, { recursive: true });
    const cfg = config(base);
    const db = pathsFor(root).db;
    for (const waitMs of [5_300, 3_900]) {
      const d = new DaemonProcess(root, ['--config', cfg]);
      await d.ready(30_000);
      await sleep(waitMs);
      const cutAt = Date.now();
      await d.kill('SIGKILL');
      await cut();
      const s = readAll(db);
      expect(s.corrupt).toEqual([]);
      expect(s.newest).not.toBeNull();
      expect(cutAt - (newestOwnSample(db) as number)).toBeLessThanOrEqual(FLUSH_MS + SAMPLE_MS + SLACK_MS);
      verifies(root);
    }
  });

  it('during the migration: the conversion resumes after the cut, every old sample exactly once', { timeout: 180_000 }, async () => {
    const root = join(mnt, 'migrate');
    const db = pathsFor(root).db;
    const want = legacyJournal(db, 24, 8_000, Date.UTC(2026, 0, 1));
    // The legacy journal itself must be on the disk before the cut.
    const d0 = new Database(db);
    d0.pragma('wal_checkpoint(TRUNCATE)');
    d0.close();
    await killDuringMigration(root, config(base), cut);
    const j = Journal.openWriter(db, { clock: new FakeClock(), runId: 'check', bootId: 'b' });
    j.close();
    const got = legacyStored(db);
    expect(got.rows).toBe(want.rows);
    expect(got.sum).toBeCloseTo(want.sum, 3);
    expect(readAll(db).corrupt).toEqual([]);
    verifies(root);
  });

  it('during retention: chunks go whole or not at all, folded into the aggregates in the same commit, none inside the retention period, nothing corrupt', { timeout: 180_000 }, async () => {
    const root = join(mnt, 'retention');
    const db = pathsFor(root).db;
    const now = Date.now();
    const j = Journal.openWriter(db, { clock: new FakeClock(now), runId: 'fill', bootId: 'b' });
    // 20 series, 6 hours at 1 Hz: five hours of it older than the retention period.
    for (let h = 0; h < 6; h++) {
      const batch = [];
      for (let s = 0; s < 3600; s++) for (let k = 0; k < 20; k++) batch.push({ ts_ms: now - 6 * 3_600_000 + h * 3_600_000 + s * 1000, name: `old_${k}`, value: s + k, unit: 'count', labels: {} });
      j.appendSamples(batch);
    }
    j.close();
    const cfg = config(base, ['  raw_retention: 1h']);
    const initial = readAll(db);
    // Every old sample exactly once, in the aggregates or in raw, whatever the cut took back.
    const exactlyOnce = (): void => {
      const got = oldSeriesTotals(db);
      expect(got.size).toBe(20);
      for (let k = 0; k < 20; k++) {
        const t = got.get(`old_${k}`);
        expect({ k, count: t?.count }).toEqual({ k, count: 6 * 3_600 });
        expect(t?.sum).toBeCloseTo(6 * ((3_599 * 3_600) / 2 + 3_600 * k), 3);
      }
    };
    exactlyOnce();
    // Retention runs 10 s after a start; cut at instants around it.
    for (const waitMs of [9_700, 10_400, 12_000, 16_000]) {
      const d = new DaemonProcess(root, ['--config', cfg]);
      await d.ready(30_000);
      await sleep(waitMs - 1_000);
      await d.kill('SIGKILL');
      await cut();
      const s = readAll(db);
      expect(s.corrupt).toEqual([]);
      expect(s.chunks).toBeGreaterThan(0);
      verifies(root);
      exactlyOnce();
      // Nothing inside the retention period went: the newest hour of the old series is all there.
      const r = JournalReader.openReadOnly(db);
      const inPeriod = r.chunksStartingIn(now - 3_600_000 + 60_000, now).filter((c) => c.series_id <= 20);
      r.close();
      expect(inPeriod.reduce((n, c) => n + c.count, 0)).toBeGreaterThanOrEqual(20 * (3_600 - 60 - CHUNK_MAX_SAMPLES));
    }
    // After the cuts retention still does its work: a clean run deletes every old chunk past the period.
    const oldLeft = (): number => {
      const r = JournalReader.openReadOnly(db);
      try {
        return r.chunksStartingIn(0, now - 3_600_000 - 300_000).filter((c) => c.series_id <= 20 && c.end_ms < now - 3_600_000 - 300_000).length;
      } finally {
        r.close();
      }
    };
    expect(initial.chunks).toBeGreaterThanOrEqual((20 * 6 * 3_600) / CHUNK_MAX_SAMPLES);
    const d = new DaemonProcess(root, ['--config', cfg]);
    await d.ready(30_000);
    await waitFor('retention to delete the old chunks', () => (oldLeft() === 0 ? true : undefined), 90_000, 500);
    await d.kill('SIGTERM');
    expect(readAll(db).corrupt).toEqual([]);
    verifies(root);
    exactlyOnce();
  });
});
