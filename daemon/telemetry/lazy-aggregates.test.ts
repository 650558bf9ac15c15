import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, silentLogger } from '../core/index.js';
import { type EventInput, Journal, JournalReader, type MetricAggregate, SCHEMA_VERSION, migrateSchema, verifyJournal } from '../journal/index.js';
import { encodeChunk } from './chunk-codec.js';
import { History } from './history.js';
import { readHistory, sampleBatches } from './history-query.js';

/*
 * One-minute aggregates are made when retention (or the quota) deletes raw chunks, in the same transaction.
 * These tests build history, delete it in steps and compare what the aggregates say with aggregates computed
 * here, independently, from the samples that were captured.
 */

let dir: string;
let db: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lazy-agg-'));
  db = join(dir, 'waveos.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const MINUTE = 60_000;
const RAW_MS = 20 * MINUTE;
const T0 = Date.UTC(2026, 0, 1);

interface Ref {
  min: number;
  max: number;
  sum: number;
  count: number;
  last: number;
  lastT: number;
}
type Refs = Map<string, Ref>;

const refKey = (name: string, minute: number): string => `${name}@${minute}`;

function addRef(refs: Refs, name: string, t: number, v: number): void {
  const k = refKey(name, Math.floor(t / MINUTE) * MINUTE);
  const r = refs.get(k);
  if (!r) refs.set(k, { min: v, max: v, sum: v, count: 1, last: v, lastT: t });
  else {
    // As the live writer compared (−0 and 0 keep the first seen).
    if (v < r.min) r.min = v;
    if (v > r.max) r.max = v;
    r.sum += v;
    r.count++;
    if (t >= r.lastT) {
      r.last = v;
      r.lastT = t;
    }
  }
}

const series = (k: number) => ({ key: `s${k}`, name: `m${k}`, type: 'gauge' as const, unit: 'ratio', labels: { k: String(k) }, labels_json: `{"k":"${k}"}` });

/** Per minute and series: the aggregate count plus the raw samples still stored. */
function countsNow(j: Journal, untilMs: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of j.aggregatesSince({ sinceMs: 0, limit: 1_000_000 })) out.set(refKey(a.name, a.minute_ms), (out.get(refKey(a.name, a.minute_ms)) ?? 0) + a.count);
  for (const batch of sampleBatches(j, { sinceMs: T0 - 3_600_000, untilMs }))
    for (const s of batch) {
      const k = refKey(s.name, Math.floor(s.ts_ms / MINUTE) * MINUTE);
      out.set(k, (out.get(k) ?? 0) + 1);
    }
  return out;
}

function compare(aggs: readonly MetricAggregate[], refs: Refs, checkLast: boolean): void {
  const got = new Map(aggs.map((a) => [refKey(a.name, a.minute_ms), a]));
  expect([...got.keys()].sort()).toEqual([...refs.keys()].sort());
  for (const [k, r] of refs) {
    const a = got.get(k) as MetricAggregate;
    // SQLite stores a REAL with no fraction as an integer: −0 comes back as 0 (as it did from the live writer).
    const z = (x: number): number => (x === 0 ? 0 : x);
    expect({ k, count: a.count, min: z(a.min), max: z(a.max) }).toEqual({ k, count: r.count, min: z(r.min), max: z(r.max) });
    expect(Math.abs(a.avg - r.sum / r.count)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(r.sum / r.count)));
    if (checkLast) expect({ k, last: z(a.last) }).toEqual({ k, last: z(r.last) });
  }
}

/** A step of the generated history: how far time moves (negative: the wall clock stepped back) and each series' value. */
const stepArb = fc.record({
  dt: fc.oneof({ weight: 20, arbitrary: fc.constant(5_000) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 40_000 }) }, { weight: 1, arbitrary: fc.integer({ min: -600_000, max: -1_000 }) }),
  values: fc.array(fc.oneof({ weight: 30, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) }, { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Infinity, -Infinity) }), { minLength: 3, maxLength: 3 }),
});

/**
 * Runs a generated history through History and the journal: flushes every 10 s, retention every
 * `maintainEvery` steps; after each retention pass every sample is counted once, in the aggregates or in the
 * raw chunks. At the end all raw goes and the aggregates must equal the reference.
 */
function run(steps: readonly { dt: number; values: readonly number[] }[], starts: readonly number[], maintainEvery: number, stepBack: boolean): void {
  const sub = mkdtempSync(join(dir, 'run-'));
  db = join(sub, 'waveos.db');
  const clock = new FakeClock(T0);
  const j = Journal.openWriter(db, { clock, runId: 'r', bootId: 'b' });
  const events: EventInput[] = [];
  const h = new History({ journal: j, clock, log: silentLogger(), emit: (e) => events.push(e), rawRetentionMs: RAW_MS, aggregateRetentionMs: 365 * 86_400_000, quotaBytes: 1e12 });
  const refs: Refs = new Map();
  let t = T0;
  let wall = T0;
  steps.forEach((s, i) => {
    t += stepBack ? s.dt : Math.abs(s.dt);
    if (t > wall) {
      clock.jumpWall(t - wall);
      wall = t;
    }
    clock.advance(1_000);
    const vs = [];
    for (let k = 0; k < 3; k++) {
      if (i < (starts[k] ?? 0)) continue; // a series that starts late
      const v = s.values[k] as number;
      vs.push({ ...series(k), value: v, ts_ms: t });
      if (Number.isFinite(v)) addRef(refs, `m${k}`, t, v); // non-finite readings are not kept (History.capture)
    }
    h.capture(vs);
    if (i % 2 === 1) h.flush();
    if (i % maintainEvery === maintainEvery - 1) {
      h.flush(); // what is captured and not yet flushed is in neither place
      h.maintain();
      const counts = countsNow(j, wall + 3_600_000);
      for (const [k, n] of counts) expect({ k, n }).toEqual({ k, n: refs.get(k)?.count });
    }
  });
  h.flush(true);
  clock.jumpWall(RAW_MS + 2 * 3_600_000);
  h.maintain();
  expect(j.metricsFootprint().raw_rows).toBe(0);
  compare(j.aggregatesSince({ sinceMs: 0, limit: 1_000_000 }), refs, !stepBack);
  expect(events.filter((e) => e.kind === 'telemetry.chunk_corrupt')).toEqual([]);
  j.close();
  expect(verifyJournal(JournalReader.openReadOnly(db)).ok).toBe(true);
}

describe('one-minute aggregates made when raw chunks are deleted', () => {
  it('retention in steps: every sample counted once, in the aggregates or the raw chunks; at the end the aggregates equal the reference (late series, minutes split across chunks, NaN/Inf readings)', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 100, maxLength: 400 }), fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 3, maxLength: 3 }), fc.integer({ min: 20, max: 200 }), (steps, starts, every) =>
        run(steps, starts, every, false),
      ),
      { numRuns: 6 },
    );
  });

  it('a wall clock that steps back: chunks of one series overlap in time, and each sample is still counted exactly once', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 100, maxLength: 400 }), fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 3, maxLength: 3 }), fc.integer({ min: 20, max: 200 }), (steps, starts, every) =>
        run(steps, starts, every, true),
      ),
      { numRuns: 6 },
    );
  });

  it('windows older than raw are answered from the aggregates, newer ones from raw, as before', () => {
    const clock = new FakeClock(T0);
    const j = Journal.openWriter(db, { clock, runId: 'r', bootId: 'b' });
    const h = new History({ journal: j, clock, log: silentLogger(), emit: () => undefined, rawRetentionMs: RAW_MS, aggregateRetentionMs: 86_400_000, quotaBytes: 1e12 });
    for (let i = 0; i < 3_600; i++) {
      h.capture([{ ...series(0), value: i, ts_ms: clock.now() }]);
      clock.advance(1_000);
      if (i % 10 === 9) h.flush();
      if (i % 300 === 299) h.maintain();
    }
    h.flush(true);
    const rawOldest = j.metricsFootprint().raw_oldest_ms as number;
    expect(rawOldest).toBeGreaterThan(T0);
    const r = readHistory(j, { sinceMs: T0, limit: 1_000_000 });
    // Every second once: the minutes before raw as aggregates of 60 samples, the rest raw.
    expect(r.aggregates.reduce((n, a) => n + a.count, 0) + r.samples.length).toBe(3_600);
    // A minute whose raw samples went only in part (a chunk ended in it) is an aggregate of those and raw for the rest.
    const minuteOf = (a: { minute: string }): number => Date.parse(a.minute);
    const whole = r.aggregates.filter((a) => minuteOf(a) + MINUTE <= rawOldest);
    expect(whole.length).toBeGreaterThan(10);
    expect(whole.every((a) => a.count === 60 && a.min === (minuteOf(a) - T0) / 1_000 && a.max === a.min + 59 && a.last === a.max)).toBe(true);
    expect(r.aggregates.length - whole.length).toBeLessThanOrEqual(1);
    j.close();
  });

  it('a chunk that fails its check is deleted by retention unfolded and reported as telemetry.chunk_corrupt', () => {
    const clock = new FakeClock(T0);
    const j = Journal.openWriter(db, { clock, runId: 'r', bootId: 'b' });
    const events: EventInput[] = [];
    const h = new History({ journal: j, clock, log: silentLogger(), emit: (e) => events.push(e), rawRetentionMs: RAW_MS, aggregateRetentionMs: 86_400_000, quotaBytes: 1e12 });
    for (let i = 0; i < 120; i++) {
      h.capture([0, 1].map((k) => ({ ...series(k), value: i, ts_ms: clock.now() })));
      clock.advance(1_000);
    }
    h.flush(true);
    j.close();
    const d = new Database(db);
    const c = d.prepare('SELECT id, data FROM chunks WHERE series_id = (SELECT id FROM series WHERE name = ?)').get('m0') as { id: number; data: Buffer };
    c.data.writeUInt8((c.data.at(-1) as number) ^ 0xff, c.data.length - 1);
    d.prepare('UPDATE chunks SET data = ? WHERE id = ?').run(c.data, c.id);
    d.close();
    const j2 = Journal.openWriter(db, { clock, runId: 'r2', bootId: 'b' });
    const h2 = new History({ journal: j2, clock, log: silentLogger(), emit: (e) => events.push(e), rawRetentionMs: RAW_MS, aggregateRetentionMs: 86_400_000, quotaBytes: 1e12 });
    clock.jumpWall(RAW_MS + MINUTE);
    expect(h2.maintain().raw).toBe(2);
    expect(events.filter((e) => e.kind === 'telemetry.chunk_corrupt').map((e) => (e.data as { chunk_id: number }).chunk_id)).toEqual([c.id]);
    expect(j2.aggregatesSince({ sinceMs: 0, limit: 10 }).map((a) => [a.name, a.count])).toEqual([
      ['m1', 60],
      ['m1', 60],
    ]);
    j2.close();
  });

  it('the quota deletes raw chunks the same way: folded first', () => {
    const clock = new FakeClock(T0);
    const j = Journal.openWriter(db, { clock, runId: 'r', bootId: 'b' });
    const h = new History({ journal: j, clock, log: silentLogger(), emit: () => undefined, rawRetentionMs: 86_400_000, aggregateRetentionMs: 86_400_000, quotaBytes: 1e12 });
    for (let i = 0; i < 7_200; i++) {
      h.capture([{ ...series(0), value: i % 7, ts_ms: clock.now() }]);
      clock.advance(1_000);
      if (i % 10 === 9) h.flush();
    }
    h.flush(true);
    const raw = j.metricsFootprint().raw_rows;
    expect(j.trimOldestMetrics('raw', 1).raw).toBe(1);
    expect(j.metricsFootprint().raw_rows).toBe(raw - 1);
    const counts = countsNow(j, clock.now());
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(7_200);
    expect([...counts.values()].every((n) => n === 60)).toBe(true);
    expect(j.aggregatesSince({ sinceMs: 0, limit: 10_000 }).length).toBeGreaterThan(0);
    j.close();
  });
});

describe('migration 9: the fold boundary of a journal written by a build that aggregated every minute', () => {
  /**
   * A schema-8 journal as the previous build left it: raw chunks, and an aggregate of every minute it saw
   * (on a clean stop, the partial last minute too); `crashed` leaves the last minute unaggregated and its
   * samples in raw, as a kill between flushes did.
   */
  function oldJournal(seconds: number, crashed: boolean): { refs: Refs; end: number } {
    const d = new Database(db);
    migrateSchema(d, 8);
    d.exec(`INSERT INTO series (id, name, unit, labels) VALUES (1, 'm0', 'ratio', '{"k":"0"}')`);
    const refs: Refs = new Map();
    const samples: { t: number; v: number }[] = [];
    for (let i = 0; i < seconds; i++) {
      const t = T0 + i * 1_000;
      samples.push({ t, v: (i * 37) % 101 });
      addRef(refs, 'm0', t, (i * 37) % 101);
    }
    for (let i = 0; i < samples.length; i += 250) {
      // 250 a chunk: the last one straddles the boundary minute, so the boundary is applied sample by sample.
      const s = samples.slice(i, i + 250);
      d.prepare('INSERT INTO chunks (series_id, start_ms, end_ms, count, data) VALUES (1, ?, ?, ?, ?)').run(s[0]?.t, s[s.length - 1]?.t, s.length, encodeChunk(s));
    }
    const ins = d.prepare('INSERT INTO metrics_1m (minute_ms, series_id, min, avg, max, last, count) VALUES (?,1,?,?,?,?,?)');
    const lastMinute = Math.floor((T0 + (seconds - 1) * 1_000) / MINUTE) * MINUTE;
    for (const [k, r] of [...refs].sort()) {
      const minute = Number(k.split('@')[1]);
      if (crashed && minute === lastMinute) continue;
      ins.run(minute, r.min, r.sum / r.count, r.max, r.last, r.count);
    }
    d.close();
    return { refs, end: T0 + seconds * 1_000 };
  }

  for (const crashed of [false, true])
    it(`${crashed ? 'after a kill' : 'after a clean stop'} mid-minute: the old minutes are not counted twice, the new build's samples of the boundary minute are`, () => {
      const { refs, end } = oldJournal(3_630, crashed); // ends 30 s into a minute
      const clock = new FakeClock(end);
      const j = Journal.openWriter(db, { clock, runId: 'r', bootId: 'b' });
      const d0 = new Database(db, { readonly: true });
      expect(d0.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      const boundary = (d0.prepare('SELECT before_ms FROM aggregate_fold').get() as { before_ms: number }).before_ms;
      d0.close();
      expect(boundary).toBe(crashed ? end - 30_000 : end - 1_000 + 1);
      const h = new History({ journal: j, clock, log: silentLogger(), emit: () => undefined, rawRetentionMs: RAW_MS, aggregateRetentionMs: 86_400_000, quotaBytes: 1e12 });
      for (let i = 0; i < 600; i++) {
        const t = clock.now();
        h.capture([{ ...series(0), value: i % 13, ts_ms: t }]);
        addRef(refs, 'm0', t, i % 13);
        clock.advance(1_000);
        if (i % 10 === 9) h.flush();
        if (i % 120 === 119) h.maintain();
      }
      h.flush(true);
      clock.jumpWall(RAW_MS + 3_600_000);
      h.maintain();
      expect(j.metricsFootprint().raw_rows).toBe(0);
      compare(j.aggregatesSince({ sinceMs: 0, limit: 1_000_000 }), refs, true);
      j.close();
    });

  it('is idempotent: a file whose user_version was set back keeps the boundary it recorded', () => {
    oldJournal(200, false);
    const clock = new FakeClock(T0 + 400_000);
    Journal.openWriter(db, { clock, runId: 'r', bootId: 'b' }).close();
    const d = new Database(db);
    const first = d.prepare('SELECT before_ms FROM aggregate_fold').get();
    d.prepare('INSERT INTO metrics_1m (minute_ms, series_id, min, avg, max, last, count) VALUES (?,1,0,0,0,0,1)').run(T0 + 3_600_000);
    d.pragma('user_version = 8');
    d.close();
    Journal.openWriter(db, { clock, runId: 'r2', bootId: 'b' }).close();
    const d2 = new Database(db, { readonly: true });
    expect(d2.prepare('SELECT before_ms FROM aggregate_fold').all()).toEqual([first]);
    expect(d2.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    d2.close();
  });

  it('a new journal folds everything: no boundary', () => {
    const clock = new FakeClock(T0);
    Journal.openWriter(db, { clock, runId: 'r', bootId: 'b' }).close();
    const d = new Database(db, { readonly: true });
    expect(d.prepare('SELECT count(*) AS n FROM aggregate_fold').get()).toEqual({ n: 0 });
    d.close();
  });
});
