import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, silentLogger } from '../core/index.js';
import { CHUNK_MAX_SAMPLES, type EventInput, Journal, JournalReader, SCHEMA_VERSION, convertLegacyBatch, headSegments, migrateSchema, readHeadLog, verifyJournal } from '../journal/index.js';
import { encodeChunk, encodeGorillaChunk } from './chunk-codec.js';
import { History } from './history.js';
import { checkAllChunks, columnBatches, readHistory, readHistoryJson, reportCorruptOnce, sampleBatches } from './history-query.js';
import { Registry } from './registry.js';

// The stored path of metric history: chunks in the journal's SQLite file, the migration from one row per
// sample, and the one reader over them. Real SQLite files throughout.

const FIXTURE = resolve(import.meta.dirname, '../../test/fixtures/legacy-journal/journal-v4.sqlite');
const ALL = { sinceMs: Number.MIN_SAFE_INTEGER + 1, untilMs: Number.MAX_SAFE_INTEGER };

let dir: string;
let db: string;
const clock = new FakeClock(Date.UTC(2026, 0, 1));
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'history-store-'));
  db = join(dir, 'waveos.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const open = (): Journal => Journal.openWriter(db, { clock, runId: 'r', bootId: 'b' });
const bits = (v: number): string => {
  const d = new DataView(new ArrayBuffer(8));
  d.setFloat64(0, v);
  return d.getBigUint64(0).toString(16);
};
type Row = { name: string; labels: string; ts_ms: number; value: number };
const key = (r: Row): string => `${r.name}|${r.labels}|${r.ts_ms}|${bits(r.value)}`;
const stored = (j: JournalReader): Row[] => [...sampleBatches(j, ALL)].flat();

function legacyRows(file: string): Row[] {
  const d = new Database(file, { readonly: true });
  const rows = d.prepare('SELECT name, labels, ts_ms, value FROM metrics ORDER BY id').all() as Row[];
  d.close();
  return rows;
}

describe('the migration from one row per sample to chunks', () => {
  it('converts a journal written by the row-per-sample history: every sample kept, bit for bit; aggregates and events untouched', () => {
    copyFileSync(FIXTURE, db);
    const before = legacyRows(db);
    expect(before).toHaveLength(7200);
    const j = open();
    const d = new Database(db, { readonly: true });
    expect(d.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(d.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'metrics'").get()).toEqual({ n: 0 });
    d.close();
    expect(stored(j).map(key).sort()).toEqual(before.map(key).sort());
    expect(j.seriesCatalogue().map((s) => s.name)).toEqual(['cpu_usage', 'mem_available', 'service_restarts', 'net_rx_bytes']);
    expect(j.aggregatesSince({ sinceMs: 0, limit: 10 })).toHaveLength(1);
    j.close();
    expect(verifyJournal(JournalReader.openReadOnly(db))).toMatchObject({ ok: true, events: 1 });
  });

  it('resumes a conversion stopped half-way: no sample lost, none converted twice', () => {
    copyFileSync(FIXTURE, db);
    const before = legacyRows(db);
    const d = new Database(db);
    migrateSchema(d, 5);
    expect(convertLegacyBatch(d)).toBe(true);
    expect(convertLegacyBatch(d)).toBe(true);
    expect((d.prepare('SELECT count(*) AS n FROM metrics').get() as { n: number }).n).toBe(3600);
    expect(d.pragma('user_version', { simple: true })).toBe(5);
    d.close();
    const j = open();
    expect(j.sampleCount()).toBe(7200);
    expect(stored(j).map(key).sort()).toEqual(before.map(key).sort());
    j.close();
  });

  it('a read-only reader of a journal not yet converted says so instead of showing no history', () => {
    copyFileSync(FIXTURE, db);
    const r = JournalReader.openReadOnly(db);
    expect(() => readHistory(r, { sinceMs: 0, limit: 10 })).toThrow(/old one-row-per-sample layout: start the daemon once/);
    r.close();
  });
});

describe('stored chunks', () => {
  const value = fc.oneof(
    fc.double(),
    fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 0, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308, Number.MAX_VALUE),
    fc.integer().map((i) => new Float64Array(new BigUint64Array([0x7ff8000000000000n | BigInt(i >>> 0)]).buffer)[0] as number),
  );
  // Steps with gaps, duplicates (0) and a wall clock stepping back (negative).
  const step = fc.oneof(fc.constant(1000), fc.constant(0), fc.integer({ min: -120_000, max: 86_400_000 }));

  it('round-trip bit-exactly through the journal for any values and any timestamps (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(step, value), { minLength: 1, maxLength: 700 }), (xs) => {
        rmSync(db, { force: true });
        rmSync(`${db}-wal`, { force: true });
        rmSync(`${db}-shm`, { force: true });
        const j = open();
        let t = Date.UTC(2026, 0, 1);
        const rows: Row[] = xs.map(([dt, v]) => ({ name: 'm', labels: '{"k":"v"}', ts_ms: (t += dt), value: v }));
        j.appendSamples(rows.map((r) => ({ ...r, unit: 'u', labels: { k: 'v' } })));
        const back = stored(j);
        // Every sample back, bit for bit; in time order; each chunk holds no step back and at most its size.
        expect(back.map(key).sort()).toEqual(rows.map(key).sort());
        for (let i = 1; i < back.length; i++) expect((back[i] as Row).ts_ms).toBeGreaterThanOrEqual((back[i - 1] as Row).ts_ms);
        for (const c of j.chunksStartingIn(Number.MIN_SAFE_INTEGER + 1, Number.MAX_SAFE_INTEGER)) {
          expect(c.count).toBeLessThanOrEqual(CHUNK_MAX_SAMPLES);
          expect(c.end_ms).toBeGreaterThanOrEqual(c.start_ms);
        }
        j.close();
      }),
      { numRuns: 60 },
    );
  });

  it('reads any window exactly: the samples inside it, none outside (property)', () => {
    const j = open();
    const t0 = Date.UTC(2026, 0, 1);
    const rows: Row[] = [];
    for (let i = 0; i < 5_000; i++) for (const s of ['a', 'b']) rows.push({ name: s, labels: '{}', ts_ms: t0 + i * 1000 - (i > 3000 ? 7_000 : 0), value: i });
    j.appendSamples(rows.map((r) => ({ ...r, unit: 'u', labels: {} })));
    fc.assert(
      fc.property(fc.integer({ min: -100_000, max: 5_100_000 }), fc.integer({ min: 0, max: 3_000_000 }), fc.constantFrom(undefined, 'a'), (from, len, name) => {
        const w = { sinceMs: t0 + from, untilMs: t0 + from + len, name };
        const want = rows.filter((r) => r.ts_ms >= w.sinceMs && r.ts_ms <= w.untilMs && (name === undefined || r.name === name));
        expect([...sampleBatches(j, w)].flat().map(key).sort()).toEqual(want.map(key).sort());
      }),
      { numRuns: 80 },
    );
    j.close();
  });

  it('merges series in time order, a timestamp\'s samples in series order and duplicates in stored order; columns and objects agree', () => {
    const j = open();
    const t0 = Date.UTC(2026, 0, 1);
    const rows: Row[] = [];
    // Three series sharing most timestamps, one with duplicates and one off the beat, over several slices and chunks.
    for (let i = 0; i < 1_500; i++) {
      rows.push({ name: 'a', labels: '{}', ts_ms: t0 + i * 1000, value: i });
      rows.push({ name: 'b', labels: '{"k":"é"}', ts_ms: t0 + Math.floor(i / 2) * 2000, value: i });
      if (i % 3 === 0) rows.push({ name: 'c', labels: '{}', ts_ms: t0 + i * 1000 + 250, value: i });
    }
    j.appendSamples(rows.map((r) => ({ ...r, unit: 'u', labels: JSON.parse(r.labels) as Record<string, string> })));
    const back = stored(j);
    expect(back.map(key).sort()).toEqual(rows.map(key).sort());
    for (let i = 1; i < back.length; i++) expect((back[i] as Row).ts_ms).toBeGreaterThanOrEqual((back[i - 1] as Row).ts_ms);
    for (const name of ['a', 'b', 'c']) {
      const values = back.filter((r) => r.name === name).map((r) => r.value);
      expect(values).toEqual(rows.filter((r) => r.name === name).map((r) => r.value));
    }
    const ids = new Map(j.seriesCatalogue().map((x) => [x.name, x.id]));
    // Ties between series: in series order (the series catalogue's, as chunks are read in start then series order).
    for (let i = 1; i < back.length; i++) {
      const p = back[i - 1] as Row;
      const q = back[i] as Row;
      if (p.ts_ms === q.ts_ms && p.name !== q.name) expect(ids.get(p.name) as number).toBeLessThan(ids.get(q.name) as number);
    }
    const cols: Row[] = [];
    for (const c of columnBatches(j, ALL)) {
      for (let i = 0; i < c.n; i++) {
        const x = c.series[c.s[i] as number];
        cols.push({ name: x?.name ?? '', labels: x?.labels ?? '', ts_ms: c.t[i] as number, value: c.v[i] as number });
      }
    }
    expect(cols.map(key)).toEqual(back.map(key));
    j.close();
  });

  it('merges many series that share no timestamps (the heap path) in the same order', () => {
    const j = open();
    const t0 = Date.UTC(2026, 0, 1);
    const rows: Row[] = [];
    for (let i = 0; i < 300; i++) for (let k = 0; k < 30; k++) rows.push({ name: `s${k}`, labels: '{}', ts_ms: t0 + i * 1000 + k * 7 + (i % 5 === 0 && k % 2 === 0 ? 7 : 0), value: i });
    j.appendSamples(rows.map((r) => ({ ...r, unit: 'u', labels: {} })));
    const ids = new Map(j.seriesCatalogue().map((x) => [x.name, x.id]));
    const want = rows.map((r, i) => ({ r, i })).sort((a, b) => a.r.ts_ms - b.r.ts_ms || (ids.get(a.r.name) as number) - (ids.get(b.r.name) as number) || a.i - b.i).map((x) => key(x.r));
    expect(stored(j).map(key)).toEqual(want);
    j.close();
  });

  it('the history as JSON text is exactly JSON.stringify of the history objects, odd values included', () => {
    const j = open();
    const t0 = Date.UTC(2026, 0, 1);
    const odd = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 5e-324, 1e21, -1.5, 0.1 + 0.2];
    const samples = [];
    for (let i = 0; i < 700; i++) {
      samples.push({ ts_ms: t0 + i * 1000, name: 'm', value: odd[i % odd.length] as number, unit: 'µs "q"', labels: { svc: 'a\\b"c', z: 'ü' } });
      samples.push({ ts_ms: t0 + i * 1000, name: 'n', value: i, unit: 'u', labels: {} });
    }
    j.appendSamples(samples);
    for (const q of [
      { sinceMs: t0, limit: 100_000 },
      { sinceMs: t0 + 30_500, limit: 333 },
      { sinceMs: t0, limit: 1, name: 'n' },
      { sinceMs: t0 + 10_000_000, limit: 10 },
    ]) {
      const { json, corrupt } = readHistoryJson(j, q);
      expect(json).toBe(JSON.stringify(readHistory(j, q)));
      expect(corrupt).toEqual([]);
    }
    j.close();
  });

  it('reads the version 1 chunks a build before the decimal encoding wrote beside version 2 ones, and verifies both', () => {
    const j = open();
    const t0 = Date.UTC(2026, 0, 1);
    // Written now: short decimals, sealed as version 2.
    const now = Array.from({ length: 300 }, (_, i) => ({ ts_ms: t0 + 600_000 + i * 1000, name: 'load', value: Math.round(150 + 40 * Math.sin(i / 30)) / 100, unit: 'ratio', labels: {} }));
    j.appendSamples(now);
    j.close();
    // Written before: the same series' earlier samples as the Gorilla chunk (version 1) an older build sealed.
    const before = Array.from({ length: 300 }, (_, i) => ({ t: t0 + i * 1000, v: i % 7 === 0 ? -0 : Math.round(150 + 40 * Math.cos(i / 30)) / 100 }));
    const d = new Database(db);
    const old = encodeGorillaChunk(before);
    expect(old[0]).toBe(1);
    d.prepare("INSERT INTO chunks (series_id, start_ms, end_ms, count, data) VALUES ((SELECT id FROM series WHERE name = 'load'), ?, ?, ?, ?)").run(t0, t0 + 299_000, 300, old);
    expect((d.prepare('SELECT data FROM chunks WHERE start_ms = ?').get(t0 + 600_000) as { data: Buffer }).data[0]).toBe(2);
    d.close();
    const r = JournalReader.openReadOnly(db);
    const want = [...before.map((s) => ({ t: s.t, v: s.v })), ...now.map((s) => ({ t: s.ts_ms, v: s.value }))];
    expect(stored(r).map((s) => [s.ts_ms, bits(s.value)])).toEqual(want.map((s) => [s.t, bits(s.v)]));
    expect(checkAllChunks(r)).toMatchObject({ chunks: 2, samples: 600, corrupt: [] });
    r.close();
  });

  it('a corrupt chunk is reported with an event, once, and never returned as data; the rest still is', () => {
    const j = open();
    const t0 = Date.UTC(2026, 0, 1);
    const N = CHUNK_MAX_SAMPLES;
    j.appendSamples(Array.from({ length: 2.5 * N }, (_, i) => ({ ts_ms: t0 + i * 100, name: 'm', value: i, unit: 'u', labels: {} })));
    j.close();
    const d = new Database(db);
    // One bit flipped in the middle chunk's payload, as a failing card would.
    const c = d.prepare('SELECT id, data FROM chunks ORDER BY start_ms LIMIT 1 OFFSET 1').get() as { id: number; data: Buffer };
    // The values are integers: the chunk is in the decimal encoding (version 2).
    expect(c.data[0]).toBe(2);
    c.data[40] = (c.data[40] as number) ^ 0x10;
    d.prepare('UPDATE chunks SET data = ? WHERE id = ?').run(c.data, c.id);
    d.close();
    const w = open();
    const events: EventInput[] = [];
    const onCorrupt = reportCorruptOnce((e) => {
      events.push(e);
      w.append(e);
    });
    const a = readHistory(w, { sinceMs: t0, limit: 100_000, onCorrupt });
    readHistory(w, { sinceMs: t0, limit: 100_000, onCorrupt });
    expect(a.corrupt_chunks).toMatchObject([{ chunk_id: c.id, name: 'm', count: CHUNK_MAX_SAMPLES, reason: 'checksum' }]);
    expect(a.samples.map((s) => s.value)).toEqual([...Array.from({ length: N }, (_, i) => i), ...Array.from({ length: N / 2 }, (_, i) => 2 * N + i)]);
    expect(events.map((e) => e.kind)).toEqual(['telemetry.chunk_corrupt']);
    w.flush();
    expect(w.events({ kind: 'telemetry.chunk_corrupt' })[0]?.data).toMatchObject({ chunk_id: c.id, reason: 'checksum', count: N });
    w.close();
  });
});

describe('the live history', () => {
  const registry = (): Registry => {
    const r = new Registry({ clock, maxSeries: 100, windowPoints: 0 });
    r.define({ name: 'g', type: 'gauge', unit: 'ratio', help: '', labelNames: ['k'] });
    return r;
  };
  const history = (j: Journal): History => new History({ journal: j, clock, log: silentLogger(), emit: () => undefined, rawRetentionMs: 86_400_000, aggregateRetentionMs: 86_400_000, quotaBytes: 1e9 });

  it('keeps open chunks in memory, writes the new samples of each flush as one piece, and loses at most what came after the last flush', () => {
    const j = open();
    const h = history(j);
    const r = registry();
    const t0 = clock.now();
    for (let i = 0; i < 100; i++) {
      r.set('g', { k: String(i % 3) }, i / 7);
      h.capture(r.drainUpdated());
      clock.advance(1000);
      if (i % 10 === 9) h.flush();
    }
    // Ten flushes, one piece per series each, of the samples since the one before.
    const pieces = j.headChunks();
    expect(pieces).toHaveLength(30);
    expect(pieces.filter((p) => p.series_id === 1).map((p) => p.count)).toEqual([4, 3, 3, 4, 3, 3, 4, 3, 3, 4]);
    expect(j.lastChunkId()).toBe(0);
    for (let i = 100; i < 105; i++) {
      r.set('g', { k: '0' }, -0);
      h.capture(r.drainUpdated());
      clock.advance(1000);
    }
    expect(h.buffered).toBe(5);
    // A crash: the journal closed without the last flush. The next start seals the heads as they stood.
    j.close();
    const k = open();
    expect(k.headChunks()).toEqual([]);
    // The pieces of each series joined into one sealed chunk.
    expect(k.chunksAfter(0, 100).map((c) => c.count)).toEqual([34, 33, 33]);
    expect(k.sampleCount()).toBe(100);
    expect(stored(k).map((s) => s.ts_ms)).toEqual(Array.from({ length: 100 }, (_, i) => t0 + i * 1000));
    k.close();
  });

  it('starts a new chunk when the wall clock steps back, keeps duplicates, −0 and subnormals as they came', () => {
    const j = open();
    const h = history(j);
    const r = registry();
    const t0 = clock.now();
    const values = [1, -0, Number.MIN_VALUE, 5e-324, 2, 3];
    const times = [0, 1000, 1000, -30_000, -29_000, 2000];
    for (let i = 0; i < values.length; i++) {
      clock.jumpWall(t0 + (times[i] as number) - clock.now());
      r.set('g', { k: 'x' }, values[i] as number);
      h.capture(r.drainUpdated());
    }
    h.flush(true);
    const chunks = j.chunksStartingIn(t0 - 60_000, t0 + 60_000);
    expect(chunks.map((c) => [c.start_ms - t0, c.end_ms - t0, c.count])).toEqual([
      [-30_000, 2000, 3],
      [0, 1000, 3],
    ]);
    const back = stored(j);
    expect(back.map((s) => [s.ts_ms - t0, bits(s.value)])).toEqual(
      [
        [-30_000, 5e-324],
        [-29_000, 2],
        [0, 1],
        [1000, -0],
        [1000, Number.MIN_VALUE],
        [2000, 3],
      ].map(([t, v]) => [t, bits(v as number)]),
    );
    j.close();
  });
});

describe('the head log (schema 7)', () => {
  const history = (j: Journal, emit: (e: EventInput) => void = () => undefined): History =>
    new History({ journal: j, clock, log: silentLogger(), emit, rawRetentionMs: 86_400_000, aggregateRetentionMs: 86_400_000, quotaBytes: 1e9 });
  const series = (k: number) => ({ key: `s${k}`, name: 'g', type: 'gauge' as const, unit: 'ratio', labels: { k: String(k) }, labels_json: `{"k":"${k}"}` });
  const capture = (h: History, i: number): void => h.capture([0, 1].map((k) => ({ ...series(k), value: i * 1.5 + k, ts_ms: clock.now() })));
  /** `seconds` samples of both series a second apart, flushed every ten, as the daemon's 10 s flush does. */
  const captureSeconds = (h: History, seconds: number): void => {
    for (let i = 0; i < seconds; i++) {
      capture(h, i);
      clock.advance(1000);
      if (i % 10 === 9) h.flush();
    }
  };

  it('migration 7 seals the pieces a schema-6 journal left in head_chunks: every sample kept, bit for bit, the table gone', () => {
    const d = new Database(db);
    migrateSchema(d, 6);
    d.exec(`INSERT INTO series (id, name, unit, labels) VALUES (1, 'g', 'ratio', '{"k":"0"}')`);
    const t0 = clock.now();
    const ins = d.prepare('INSERT INTO head_chunks (series_id, start_ms, end_ms, count, data) VALUES (1, ?, ?, ?, ?)');
    const want: { t: number; v: number }[] = [];
    for (let p = 0; p < 3; p++) {
      const s = Array.from({ length: 10 }, (_, i) => ({ t: t0 + (p * 10 + i) * 1000, v: p === 1 && i === 3 ? -0 : Math.PI * (p * 10 + i) }));
      want.push(...s);
      ins.run(s[0]?.t, s[9]?.t, 10, encodeChunk(s));
    }
    d.close();
    const j = open();
    expect(j.headChunks()).toEqual([]);
    expect(j.chunksAfter(0, 10).map((c) => c.count)).toEqual([30]);
    expect(stored(j).map((s) => [s.ts_ms, bits(s.value)])).toEqual(want.map((s) => [s.t, bits(s.v)]));
    j.close();
    const r = new Database(db, { readonly: true });
    expect(r.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(r.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'head_chunks'").get()).toEqual({ n: 0 });
    r.close();
  });

  it('appends one record per flush to a file beside the journal, and removes it once every open chunk in it is sealed', () => {
    const j = open();
    const h = history(j);
    captureSeconds(h, 30);
    expect(headSegments(db)).toHaveLength(1);
    expect(readHeadLog(db).pieces).toHaveLength(6);
    // A reader in another process sees the open chunks as the flushes wrote them.
    const r = JournalReader.openReadOnly(db);
    expect(r.sampleCount()).toBe(60);
    expect(r.headChunks().map((c) => [c.series_id, c.count])).toEqual([
      [1, 10],
      [1, 10],
      [1, 10],
      [2, 10],
      [2, 10],
      [2, 10],
    ]);
    r.close();
    h.flush(true);
    expect(headSegments(db)).toEqual([]);
    expect(j.headChunks()).toEqual([]);
    expect(j.sampleCount()).toBe(60);
    j.close();
  });

  it('keeps a reader of the same file up with the log: records show at once, a new file once a chunk is sealed or a second later', async () => {
    const j = open();
    const h = history(j);
    const r = JournalReader.openReadOnly(db);
    captureSeconds(h, 10);
    expect(r.sampleCount()).toBe(20);
    // a record appended to a file the reader listed shows at once
    captureSeconds(h, 10);
    expect(r.sampleCount()).toBe(40);
    // every open chunk sealed: the file goes, and the reader, seeing the new chunks, lists again (no piece read twice)
    h.flush(true);
    expect(headSegments(db)).toEqual([]);
    expect(r.sampleCount()).toBe(40);
    // new open chunks in a new file: the writer sees its own at once; the other reader lists again within a second
    captureSeconds(h, 10);
    expect(headSegments(db)).toHaveLength(1);
    expect(j.sampleCount()).toBe(60);
    for (const end = Date.now() + 10_000; r.sampleCount() !== 60 && Date.now() < end; ) await new Promise((res) => setTimeout(res, 50));
    expect(r.sampleCount()).toBe(60);
    expect([...sampleBatches(r, ALL)].flat().length).toBe(60);
    r.close();
    j.close();
  });

  it('a torn last record (a flush cut short by a crash) is dropped at the next start; what was flushed before is sealed', () => {
    const j = open();
    const h = history(j);
    captureSeconds(h, 20);
    j.close();
    const seg = (headSegments(db)[0] as { path: string }).path;
    const whole = readFileSync(seg);
    // Half of a third record, as a power cut leaves it.
    writeFileSync(seg, Buffer.concat([whole, whole.subarray(0, whole.length >> 2)]));
    expect(readHeadLog(db)).toMatchObject({ corrupt: [] });
    const k = open();
    expect(headSegments(db)).toEqual([]);
    expect(k.sampleCount()).toBe(40);
    expect(checkAllChunks(k).corrupt).toEqual([]);
    k.close();
  });

  it('a record that fails its CRC with records after it is reported as corrupt, never returned as samples; the records after it are', () => {
    const j = open();
    const h = history(j);
    captureSeconds(h, 30);
    const seg = (headSegments(db)[0] as { path: string }).path;
    const buf = readFileSync(seg);
    buf[12] = (buf[12] as number) ^ 0x10; // inside the first record's body
    writeFileSync(seg, buf);
    const r = JournalReader.openReadOnly(db);
    const check = checkAllChunks(r);
    expect(check.corrupt).toHaveLength(1);
    expect(check.samples).toBe(40);
    const events: EventInput[] = [];
    expect([...sampleBatches(r, { ...ALL, onCorrupt: reportCorruptOnce((e) => events.push(e)) })].flat()).toHaveLength(40);
    expect(events.map((e) => e.kind)).toEqual(['telemetry.chunk_corrupt']);
    r.close();
    j.close();
    // The next start seals the record as it is (still reported by verify), and the good pieces as chunks.
    const k = open();
    expect(checkAllChunks(k)).toMatchObject({ samples: 40 });
    expect(checkAllChunks(k).corrupt).toHaveLength(1);
    k.close();
  });
});

describe('one-minute aggregates by series (schema 8)', () => {
  it('migration 8 keeps every aggregate row of a schema-7 journal, with its id, series, numbers and unit', () => {
    const d = new Database(db);
    migrateSchema(d, 7);
    const ins = d.prepare('INSERT INTO metrics_1m (minute_ms, name, unit, labels, min, avg, max, last, count) VALUES (?,?,?,?,?,?,?,?,?)');
    const want = [];
    for (let m = 0; m < 50; m++)
      for (const [name, unit, labels] of [
        ['cpu', 'ratio', '{"core":"0"}'],
        ['cpu', 'ratio', '{"core":"1"}'],
        ['rx', 'bytes', '{}'],
      ] as const) {
        const row = { minute_ms: m * 60_000, name, unit, labels: JSON.parse(labels) as Record<string, string>, min: m / 3, avg: 0.25, max: m * 1e300, last: Number.MIN_VALUE, count: 60 };
        ins.run(row.minute_ms, name, unit, labels, row.min, row.avg, row.max, row.last, row.count);
        want.push(row);
      }
    d.close();
    const j = open();
    const got = j.aggregatesSince({ sinceMs: 0, limit: 1_000 });
    expect(got).toEqual(want);
    expect(got.map((r) => bits(r.max))).toEqual(want.map((r) => bits(r.max)));
    expect(j.aggregatesSince({ sinceMs: 60_000, untilMs: 180_000, name: 'rx', limit: 10 }).map((r) => r.minute_ms)).toEqual([60_000, 120_000]);
    j.close();
    const r = new Database(db, { readonly: true });
    expect(r.prepare('SELECT min(id) AS lo, max(id) AS hi FROM metrics_1m').get()).toEqual({ lo: 1, hi: 150 });
    r.close();
  });
});

describe('retention and the head log', () => {
  it('a sealed chunk whose pieces are still in the head log is kept past its retention, so they never read as an open chunk again', () => {
    const j = open();
    const h = new History({ journal: j, clock, log: silentLogger(), emit: () => undefined, rawRetentionMs: 60_000, aggregateRetentionMs: 86_400_000, quotaBytes: 1e9 });
    const s = (k: string) => ({ key: k, name: 'g', type: 'gauge' as const, unit: 'ratio', labels: { k }, labels_json: `{"k":"${k}"}` });
    const t0 = clock.now();
    // Series a fills a chunk; b starts later, so the head log file holding a's pieces also holds b's open ones.
    for (let i = 0; i < CHUNK_MAX_SAMPLES + 50; i++) {
      const now = [{ ...s('a'), value: i, ts_ms: clock.now() }];
      if (i >= 100) now.push({ ...s('b'), value: -i, ts_ms: clock.now() });
      h.capture(now);
      clock.advance(1000);
      if (i % 10 === 9) h.flush();
    }
    const first = j.chunksAfter(0, 10);
    expect(first.map((c) => [c.series_id, c.start_ms, c.count])).toEqual([[1, t0, CHUNK_MAX_SAMPLES]]);
    expect(headSegments(db)).toHaveLength(1);
    clock.advance(120_000);
    h.maintain();
    // Past its retention, but kept while its pieces are in the log: a's samples are each read once.
    const r = JournalReader.openReadOnly(db);
    const a = [...sampleBatches(r, ALL)].flat().filter((x) => x.labels === '{"k":"a"}');
    expect(new Set(a.map((x) => x.ts_ms)).size).toBe(a.length);
    expect(r.headChunks().filter((c) => c.series_id === 1 && c.start_ms < t0 + CHUNK_MAX_SAMPLES * 1000)).toEqual([]);
    r.close();
    // Once the log file goes (every chunk in it sealed), retention deletes it.
    h.flush(true);
    expect(headSegments(db)).toEqual([]);
    h.maintain();
    expect(j.chunksAfter(0, 10).some((c) => c.start_ms === t0 && c.series_id === 1)).toBe(false);
    j.close();
  });
});
