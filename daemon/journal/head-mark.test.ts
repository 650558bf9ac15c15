import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../core/index.js';
import { GENESIS_HASH, Journal, type JournalEvent, JournalReader, canonicalBody, chainHash, checkAnchors, migrateSchema, verifyJournal } from './index.js';

let dir: string;
let db: string;
const clock = new FakeClock();
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'journal-head-'));
  db = join(dir, 'waveos.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function filled(n: number, batchMax = 256): void {
  const j = Journal.openWriter(db, { clock, runId: 'r', bootId: 'b', batchMax });
  for (let i = 0; i < n; i++) j.append({ kind: 'daemon.start', source: 's', reason: `r${i}`, data: { i } });
  j.close();
}

function sql(...statements: string[]): void {
  const d = new Database(db);
  for (const s of statements) d.prepare(s).run();
  d.close();
}

function read<T>(fn: (r: JournalReader) => T): T {
  const r = JournalReader.openReadOnly(db);
  try {
    return fn(r);
  } finally {
    r.close();
  }
}

describe('the head mark', () => {
  it('moves with every commit, in the same transaction as the events', () => {
    const j = Journal.openWriter(db, { clock, runId: 'r', bootId: 'b', batchMax: 4 });
    expect(j.headMark()).toEqual({ seq: 0, hash: GENESIS_HASH });
    const evs = Array.from({ length: 10 }, (_, i) => j.append({ kind: 'daemon.start', source: 's', reason: `r${i}` }));
    // Two groups of four committed, two events still queued: the mark is at the last committed one.
    expect(j.headMark()).toEqual({ seq: 8, hash: evs[7]?.hash });
    j.flush();
    expect(j.headMark()).toEqual({ seq: 10, hash: evs[9]?.hash });
    j.close();
    expect(read((r) => verifyJournal(r))).toMatchObject({ ok: true, events: 10, headMark: { seq: 10, hash: evs[9]?.hash } });
  });

  it('is set from the last event when an older journal is migrated', () => {
    const d = new Database(db);
    migrateSchema(d, 3);
    d.close();
    filled(0);
    expect(read((r) => r.headMark())).toEqual({ seq: 0, hash: GENESIS_HASH });
    rmSync(db);
    filled(5);
    sql('DROP TABLE journal_head', 'PRAGMA user_version = 3');
    expect(read((r) => verifyJournal(r))).toMatchObject({ ok: true, headMark: null });
    filled(2);
    expect(read((r) => verifyJournal(r))).toMatchObject({ ok: true, events: 7, headMark: { seq: 7 } });
  });

  it.each([
    ['the last rows deleted', ['DELETE FROM events WHERE seq > 7'], { seq: 8, from: 8, to: 10 }],
    ['every row deleted', ['DELETE FROM events'], { seq: 1, from: 1, to: 10 }],
  ])('finds %s and names the missing range', (_, statements, want) => {
    filled(10);
    sql(...statements);
    const report = read((r) => verifyJournal(r));
    expect(report).toMatchObject({ ok: false, missingTail: { from: want.from, to: want.to }, broken: { seq: want.seq } });
    expect(report.broken?.problem).toMatch(new RegExp(`seq ${want.from}\\.\\.${want.to} missing at the tail`));
  });

  it('finds rows past the mark and a replaced last event', () => {
    filled(10);
    sql('UPDATE journal_head SET seq = 9');
    expect(read((r) => verifyJournal(r)).broken?.problem).toMatch(/seq 10\.\.10 are past the head mark/);
    sql(`UPDATE journal_head SET seq = 10, hash = '${'a'.repeat(64)}'`);
    expect(read((r) => verifyJournal(r)).broken?.problem).toMatch(/the tail was replaced/);
  });

  it('checks points known from outside: a seq past the end is a cut tail, another hash a rewrite', () => {
    filled(10);
    const hash5 = read((r) => r.eventAt(5)?.hash) as string;
    const check = (anchors: { seq: number; hash: string }[]): ReturnType<typeof verifyJournal> =>
      read((r) => checkAnchors(r, verifyJournal(r), anchors.map((a) => ({ ...a, source: 'pack p' }))));
    expect(check([{ seq: 5, hash: hash5 }]).ok).toBe(true);
    expect(check([{ seq: 12, hash: 'a'.repeat(64) }])).toMatchObject({ ok: false, missingTail: { from: 11, to: 12 }, broken: { code: 'tail.truncated' } });
    expect(check([{ seq: 5, hash: 'b'.repeat(64) }]).broken).toMatchObject({ seq: 5, code: 'anchor', problem: expect.stringMatching(/not the one pack p records/) });
  });

  it('a writer opened on a cut journal goes on after the mark, so the cut stays a gap that every verify reports', () => {
    filled(10);
    const hash10 = read((r) => r.eventAt(10)?.hash);
    sql('DELETE FROM events WHERE seq > 7');
    const j = Journal.openWriter(db, { clock, runId: 'r2', bootId: 'b' });
    const ev = j.appendDurable({ kind: 'daemon.start', source: 's', reason: 'after the cut' });
    j.close();
    expect(ev).toMatchObject({ seq: 11, prev_hash: hash10 });
    expect(read((r) => verifyJournal(r)).broken).toMatchObject({ seq: 11, code: 'seq.gap', problem: 'seq 8..10 missing' });
  });

  it('a writer opened on a journal whose last row was replaced hangs new events on the mark', () => {
    filled(4);
    // A forged last event with a correct hash: the chain alone cannot tell, the mark can.
    const e4 = read((r) => r.eventAt(4)) as JournalEvent;
    const { prev_hash, hash: _old, ...body } = { ...e4, reason: 'forged' };
    const forged = chainHash(prev_hash, canonicalBody(body));
    sql(`UPDATE events SET reason = 'forged', hash = '${forged}' WHERE seq = 4`);
    expect(read((r) => verifyJournal(r)).broken).toMatchObject({ seq: 4, code: 'tail.hash' });
    const j = Journal.openWriter(db, { clock, runId: 'r2', bootId: 'b' });
    j.appendDurable({ kind: 'daemon.start', source: 's', reason: 'after the rewrite' });
    j.close();
    expect(read((r) => verifyJournal(r)).broken).toMatchObject({ seq: 5, code: 'prev_hash' });
  });
});
