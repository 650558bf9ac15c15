import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, canonicalJson, jcs } from '../core/index.js';
import { GENESIS_HASH, Journal, JournalReader, canonicalBody, chainHash, migrateSchema, verifyJournal } from './index.js';

let dir: string;
let db: string;
const clock = new FakeClock();
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'journal-v-'));
  db = join(dir, 'waveos.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A journal as WaveOS wrote it before format 2: schema 2, no `v` column, version 1 hashes. */
function oldJournal(n: number): void {
  const d = new Database(db);
  migrateSchema(d, 2);
  let prev = GENESIS_HASH;
  const ins = d.prepare('INSERT INTO events (seq, ts, mono_ms, run_id, boot_id, kind, severity, source, reason, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)');
  for (let seq = 1; seq <= n; seq++) {
    const e = { v: 1 as const, seq, ts: '2026-01-01T00:00:00.000Z', mono_ms: seq, run_id: 'old', boot_id: 'b', kind: 'daemon.start', severity: 'info' as const, source: 's', reason: `r${seq}`, data: { z: seq, a: [1.5, 'x'] } };
    const hash = chainHash(prev, canonicalBody(e, canonicalJson(e.data)));
    ins.run(seq, e.ts, e.mono_ms, e.run_id, e.boot_id, e.kind, e.severity, e.source, e.reason, JSON.stringify(e.data), prev, hash);
    prev = hash;
  }
  d.close();
}

function verify(): ReturnType<typeof verifyJournal> {
  const r = JournalReader.openReadOnly(db);
  try {
    return verifyJournal(r);
  } finally {
    r.close();
  }
}

function sql(text: string): void {
  const d = new Database(db);
  d.prepare(text).run();
  d.close();
}

describe('event format versions', () => {
  it('writes version 2: the hash covers the RFC 8785 form of the body with "v":2, and the stored data is that form', () => {
    const j = Journal.openWriter(db, { clock, runId: 'r', bootId: 'b' });
    const ev = j.appendDurable({ kind: 'daemon.start', source: 's', reason: 'caf\u00e9 \ud800', data: { b: 1e21, a: -0, c: [1e-7], when: new Date(0), gone: undefined } });
    j.close();
    expect(ev.v).toBe(2);
    const { prev_hash, hash, ...body } = ev;
    const text = jcs({ ...body, data: JSON.parse(jcs({ a: 0, b: 1e21, c: [1e-7], when: '1970-01-01T00:00:00.000Z' })) });
    expect(text).toContain('"v":2}');
    expect(hash).toBe(chainHash(prev_hash, text));
    const row = new Database(db, { readonly: true }).prepare('SELECT v, data, reason FROM events WHERE seq = 1').get() as { v: number; data: string; reason: string };
    expect(row).toEqual({ v: 2, data: '{"a":0,"b":1e+21,"c":[1e-7],"when":"1970-01-01T00:00:00.000Z"}', reason: 'caf\u00e9 \ufffd' });
  });

  it('migrates an older journal: its rows become version 1 and keep verifying, new rows are version 2 on the same chain', () => {
    oldJournal(5);
    expect(verify()).toMatchObject({ ok: true, events: 5 });
    const j = Journal.openWriter(db, { clock, runId: 'new', bootId: 'b' });
    for (let i = 0; i < 3; i++) j.append({ kind: 'daemon.start', source: 's', reason: `n${i}`, data: { i } });
    j.close();
    const versions = (new Database(db, { readonly: true }).prepare('SELECT v FROM events ORDER BY seq').all() as { v: number }[]).map((r) => r.v);
    expect(versions).toEqual([1, 1, 1, 1, 1, 2, 2, 2]);
    expect(verify()).toMatchObject({ ok: true, events: 8, lastSeq: 8 });
  });

  it('picks the rule by the stored version: a row relabelled to the other version fails its hash', () => {
    oldJournal(3);
    const j = Journal.openWriter(db, { clock, runId: 'new', bootId: 'b' });
    j.appendDurable({ kind: 'daemon.start', source: 's', reason: 'x' });
    j.close();
    sql('UPDATE events SET v = 2 WHERE seq = 2');
    expect(verify().broken).toMatchObject({ seq: 2, problem: expect.stringMatching(/changed after it was written/) });
  });

  it('refuses an unknown version and a version that goes back', () => {
    const j = Journal.openWriter(db, { clock, runId: 'r', bootId: 'b' });
    for (let i = 0; i < 3; i++) j.append({ kind: 'daemon.start', source: 's', reason: `n${i}` });
    j.close();
    sql('UPDATE events SET v = 3 WHERE seq = 2');
    expect(verify().broken).toEqual({ seq: 2, code: 'version.unknown', problem: 'unknown event format version 3 (this WaveOS knows 1 and 2)' });
    sql('UPDATE events SET v = 1 WHERE seq = 2');
    expect(verify().broken).toEqual({ seq: 2, code: 'version.back', problem: 'event format version 1 after version 2: versions never go back' });
  });

  it('refuses a version 2 row whose content has no RFC 8785 form', () => {
    const j = Journal.openWriter(db, { clock, runId: 'r', bootId: 'b' });
    j.appendDurable({ kind: 'daemon.start', source: 's', reason: 'x', data: { n: 1 } });
    j.close();
    sql(`UPDATE events SET data = '{"n":1e400}' WHERE seq = 1`);
    expect(verify().broken?.problem).toMatch(/no RFC 8785 form: Infinity is not a JSON number/);
  });
});
