import { decodeChunk } from '../telemetry/chunk-codec.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Chaos, FakeClock, isWaveosError, jcs } from '../core/index.js';
import { Redactor } from '../security/index.js';
import {
  BUNDLES_FAILURES_KEY,
  BUNDLES_SEQ_KEY,
  CHILDREN_KEY,
  CONFIG_HASH_KEY,
  CURRENT_RUN_KEY,
  GENESIS_HASH,
  Journal,
  JournalReader,
  MODE_KEY,
  REBOOTS_KEY,
  policyEventKind,
  canonicalBody,
  chainHash,
  verifyChain,
  verifyJournal,
} from './index.js';

let dir: string;
let db: string;
const clock = new FakeClock();
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'journal-'));
  db = join(dir, 'waveos.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function open(runId = 'run-a', batchMax = 256): Journal {
  return Journal.openWriter(db, { clock, runId, bootId: 'boot-1', batchMax, batchDelayMs: 1_000 });
}

describe('Journal.appendDurableWritingStates', () => {
  it('commits the event and the state together, or neither: a failed commit does not leave the event behind', () => {
    const failing = new Chaos({ seed: 1, origin: 'config', rules: [{ point: 'journal.commit', rate: 1, effect: 'EIO', delay_ms: 1 }] });
    const j1 = Journal.openWriter(db, { clock, runId: 'run-a', bootId: 'b', chaos: failing });
    expect(() => j1.appendDurableWritingStates({ kind: 'mode.changed', source: 't', reason: 'r', data: { to: 'safe' } }, { [MODE_KEY]: 'safe' })).toThrow(/EIO/);
    expect(j1.pendingCount).toBe(0);
    expect(j1.lastSeq()).toBe(0);
    j1.close();
    const j2 = open();
    expect(j2.readState(MODE_KEY)).toBeUndefined();
    const ev = j2.appendDurableWritingStates({ kind: 'mode.changed', source: 't', reason: 'r', data: { to: 'safe' } }, { [MODE_KEY]: 'safe' });
    expect(ev.seq).toBe(1);
    expect(j2.readState(MODE_KEY)).toBe('safe');
    expect(verifyJournal(j2)).toMatchObject({ ok: true, events: 1 });
    j2.close();
  });
});

describe('Journal.openForStart', () => {
  it('a file that is not a database is moved aside, never deleted, and a new journal begins', () => {
    writeFileSync(db, 'this is not an SQLite file, it is what a bad flash page can look like\n'.repeat(100));
    const before = readFileSync(db);
    const r = Journal.openForStart(db, { clock, runId: 'run-a', bootId: 'b' });
    expect(r.quarantined?.problem).toMatch(/not a database/);
    const moved = r.quarantined?.files[0] as string;
    expect(moved).toMatch(/waveos\.db\.corrupt-\d{8}T\d{6}Z$/);
    expect(readFileSync(moved)).toEqual(before);
    r.journal.appendDurable({ kind: 'daemon.start', source: 's', reason: 'first of the new journal' });
    expect(r.journal.lastSeq()).toBe(1);
    r.journal.close();
  });

  it('after an unclean stop, quick_check finds damage open() does not, and a sound journal is left alone', () => {
    const j = open();
    for (let i = 0; i < 3000; i++) j.append({ kind: 'service.started', source: 'test', reason: `tick ${i} ${'x'.repeat(200)}`, data: { i } });
    j.flush();
    j.close();
    const sound = Journal.openForStart(db, { clock, runId: 'run-b', bootId: 'b', quickCheck: true });
    expect(sound.quarantined).toBeUndefined();
    expect(sound.journal.lastSeq()).toBe(3000);
    sound.journal.close();
    // Overwrite a page in the middle of the events table, past the schema pages open() reads.
    const buf = readFileSync(db);
    buf.fill(0x5a, 40 * 4096, 41 * 4096);
    writeFileSync(db, buf);
    const r = Journal.openForStart(db, { clock, runId: 'run-c', bootId: 'b', quickCheck: true });
    expect(r.quarantined?.problem).toMatch(/quick_check|malformed|corrupt/);
    expect(readdirSync(dir).filter((f) => /\.corrupt-\d{8}T\d{6}Z$/.test(f))).toHaveLength(1);
    expect(r.journal.lastSeq()).toBe(0);
    r.journal.close();
  });

  it('says when the file was missing', () => {
    const r = Journal.openForStart(db, { clock, runId: 'run-a', bootId: 'b' });
    expect(r.missing).toBe(true);
    expect(existsSync(db)).toBe(true);
    r.journal.close();
    const again = Journal.openForStart(db, { clock, runId: 'run-b', bootId: 'b' });
    expect(again.missing).toBe(false);
    again.journal.close();
  });
});

describe('Journal.append', () => {
  it('stores and chains each event exactly as its format says, whatever shape its data has, redacted or not', () => {
    const j = Journal.openWriter(db, { clock, runId: 'run-a', bootId: 'boot-1', batchMax: 4, batchDelayMs: 1_000, redactor: new Redactor({ literals: ['s3cr3t-value-123456'] }) });
    const data: Record<string, unknown>[] = [
      { i: 1, load: 0.5 }, // sorted already: printed by JSON.stringify
      { z: 1, a: [1, { d: null, c: true }] }, // unsorted, nested
      { '9': 'a', '10': 'b' }, // integer names: not in UTF-16 order as JSON.stringify has them
      { note: 'x\ud800y', ok: 'pair \ud83d\ude00' }, // a lone surrogate, mended; a pair, kept
      { a: 1, token: 'abc', url: 'https://u:s3cr3t-value-123456@h', z: -0 }, // redacted after unchanged members
      { n: Number.NaN, m: 1e21, when: new Date(0) },
      {},
    ];
    const appended = data.map((d, i) => j.append({ kind: 'service.started', source: 'test', reason: `event ${i} s3cr3t-value-123456`, data: d }));
    j.flush();
    const rows = new Database(db, { readonly: true }).prepare('SELECT seq, data, prev_hash, hash FROM events ORDER BY seq').all() as { seq: number; data: string; prev_hash: string; hash: string }[];
    expect(rows).toHaveLength(data.length);
    let prev = GENESIS_HASH;
    for (const [i, e] of appended.entries()) {
      const row = rows[i] as (typeof rows)[number];
      // the stored data is the RFC 8785 form of the event's data, and the hash is the chain's over the canonical body
      expect(row.data).toBe(jcs(JSON.parse(row.data)));
      expect(e.prev_hash).toBe(prev);
      expect(e.hash).toBe(chainHash(prev, canonicalBody(e, row.data)));
      expect(row.hash).toBe(e.hash);
      expect(e.reason).not.toContain('s3cr3t');
      prev = e.hash;
    }
    expect(rows.map((r) => r.data)).toEqual([
      '{"i":1,"load":0.5}',
      '{"a":[1,{"c":true,"d":null}],"z":1}',
      '{"10":"b","9":"a"}',
      '{"note":"x\ufffdy","ok":"pair \ud83d\ude00"}',
      '{"a":1,"token":"[REDACTED]","url":"https://u:[REDACTED]@h","z":0}',
      '{"m":1e+21,"n":null,"when":"1970-01-01T00:00:00.000Z"}',
      '{}',
    ]);
    expect(data[4]).toEqual({ a: 1, token: 'abc', url: 'https://u:s3cr3t-value-123456@h', z: -0 });
    expect(verifyJournal(j)).toMatchObject({ ok: true, events: data.length });
    j.close();
  });
});

describe('Journal', () => {
  it('a full disk is waited out: events wait in order, durable commits are refused with DISK_FULL, the chain stays whole', async () => {
    // Six commits in ten fail with ENOSPC, as on a disk that frees and fills again.
    const chaos = new Chaos({ seed: 9, origin: 'config', rules: [{ point: 'journal.commit', rate: 0.6, effect: 'ENOSPC', delay_ms: 1 }] });
    const j = Journal.openWriter(db, { clock, runId: 'run-a', bootId: 'boot-1', batchMax: 10, batchDelayMs: 1, chaos, fullRetryMs: 2 });
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      j.append({ kind: 'service.started', source: 'test', reason: `tick ${i}`, data: { i } });
      if (i % 50 === 0) {
        try {
          j.appendDurable({ kind: 'service.stopped', source: 'test', reason: `durable ${i}` });
        } catch (e) {
          expect(isWaveosError(e) && e.code).toBe('WAVEOS_E_DISK_FULL');
          refused++;
        }
      }
      if (i % 25 === 0) await new Promise((r) => setTimeout(r, 3));
    }
    for (let i = 0; i < 500 && (j.pendingCount > 0 || j.diskFull()); i++) await new Promise((r) => setTimeout(r, 3));
    expect(j.pendingCount).toBe(0);
    expect(j.diskFull()).toBeUndefined();
    expect(refused).toBeGreaterThan(0);
    expect(chaos.stats().injected['journal.commit:ENOSPC']).toBeGreaterThan(5);
    const v = verifyJournal(j);
    expect(v).toMatchObject({ ok: true, firstSeq: 1 });
    const kinds = new JournalReader(new Database(db, { readonly: true })).events({ limit: 10_000 }).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'service.started')).toHaveLength(300);
    expect(kinds).toContain('journal.disk_full');
    expect(kinds).toContain('journal.disk_full_recovered');
    j.close();
  });

  it('numbers and chains events, and commits a group in one transaction', () => {
    const j = open();
    const commitsBefore = j.commitCount;
    const evs = Array.from({ length: 100 }, (_, i) => j.append({ kind: 'service.started', source: 'test', reason: `tick ${i}`, data: { i } }));
    expect(evs.map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(evs[0]?.prev_hash).toBe(GENESIS_HASH);
    expect(evs[1]?.prev_hash).toBe(evs[0]?.hash);
    expect(j.pendingCount).toBe(100);
    j.flush();
    expect(j.commitCount - commitsBefore).toBe(1);
    expect(j.pendingCount).toBe(0);
    expect(verifyJournal(j)).toMatchObject({ ok: true, events: 100, firstSeq: 1, lastSeq: 100 });
    j.close();
  });

  it('commits when a batch fills, without waiting for the timer', () => {
    const j = open('run-a', 10);
    for (let i = 0; i < 25; i++) j.append({ kind: 'service.exited', source: 't', reason: 'r' });
    expect(j.pendingCount).toBe(5);
    j.close();
  });

  it('appendDurable is committed when it returns, with everything queued before it', () => {
    const j = open();
    j.append({ kind: 'daemon.start', source: 't', reason: 'r' });
    j.appendDurable({ kind: 'daemon.stop', source: 't', reason: 'r' });
    const reader = JournalReader.openReadOnly(db);
    expect(reader.events().map((e) => e.kind)).toEqual(['daemon.start', 'daemon.stop']);
    reader.close();
    j.close();
  });

  it('continues seq and chain after reopening, across runs', () => {
    const a = open('run-a');
    a.append({ kind: 'daemon.start', source: 't', reason: 'r' });
    a.close();
    const b = open('run-b');
    const e = b.appendDurable({ kind: 'daemon.stop', source: 't', reason: 'r' });
    expect(e.seq).toBe(2);
    expect(verifyJournal(b).ok).toBe(true);
    expect(b.lastEventOfRun('run-a')?.kind).toBe('daemon.start');
    b.close();
  });

  it('filters by kind prefix and time', () => {
    const j = open();
    j.append({ kind: 'service.restart', source: 't', reason: 'r' });
    clock.advance(10_000);
    j.append({ kind: 'service.stopped', source: 't', reason: 'r' });
    j.append({ kind: policyEventKind('services'), source: 't', reason: 'r' });
    j.append({ kind: 'daemon.start', source: 't', reason: 'r' });
    j.flush();
    expect(j.events({ kindPrefix: 'service.' }).map((e) => e.kind)).toEqual(['service.restart', 'service.stopped']);
    expect(j.events({ kindPrefix: 'service' })).toHaveLength(3);
    expect(j.events({ sinceTs: new Date(clock.now()).toISOString() })).toHaveLength(3);
    j.close();
  });

  it('keeps data keys canonical, so a reader can recompute each hash', () => {
    const j = open();
    j.appendDurable({ kind: 'daemon.start', source: 's', reason: 'r', data: { z: 1, a: { y: 2, b: [3, { d: 4, c: 5 }] } } });
    const [e] = j.events();
    expect(verifyChain([e as never]).ok).toBe(true);
    j.close();
  });

  it('records intents before and outcomes after, and resolves interrupted ones on the next run', () => {
    const a = open('run-a');
    const done = a.beginIntent({ action: 'service.restart', target: 'app', reason: 'crash loop', requestedBy: 'policy' });
    a.finishIntent(done, 'succeeded', 'restarted app', { pid: 42 });
    a.beginIntent({ action: 'service.stop', target: 'db', reason: 'operator asked', requestedBy: 'operator:local' });
    // run-a dies here; run-b starts.
    const b = open('run-b');
    const resolved = b.resolveInterruptedIntents();
    expect(resolved.map((i) => i.action)).toEqual(['service.stop']);
    expect(b.intents().map((i) => i.status)).toEqual(['succeeded', 'interrupted']);
    expect(b.events().map((e) => e.kind)).toEqual(['action.requested', 'action.succeeded', 'action.requested', 'action.interrupted']);
    expect(b.resolveInterruptedIntents()).toEqual([]);
    a.close();
    b.close();
  });

  it('commits an unattended outcome and a children record with the next commit; a crash before it interrupts the intent', () => {
    const a = open('run-a');
    const other = (): Journal => open('run-x');
    const first = a.beginIntent({ action: 'service.start', target: 'app', reason: 'start-up', requestedBy: 'recovery' });
    const children = { app: { pid: 42, start_time: '1', run_id: 'run-a', started_at: '2026-12-04T00:00:00.000Z' } };
    a.writeStateWithNextCommit(CHILDREN_KEY, children);
    // The value is taken when written: a later change of the object is not what is stored.
    children.app.pid = 43;
    a.finishIntent(first, 'succeeded', 'app started', { pid: 42 }, true);
    const before = other();
    expect(before.intents().map((i) => i.status)).toEqual(['pending']);
    expect(before.readState(CHILDREN_KEY)).toBeUndefined();
    before.close();
    // The next durable commit (the next action's intent) carries both.
    const second = a.beginIntent({ action: 'service.start', target: 'db', reason: 'start-up', requestedBy: 'recovery' });
    const between = other();
    expect(between.intents().map((i) => i.status)).toEqual(['succeeded', 'pending']);
    expect(between.readState(CHILDREN_KEY)?.app?.pid).toBe(42);
    between.close();
    a.finishIntent(second, 'succeeded', 'db started', { pid: 44 }, true);
    // A clean close commits what waits.
    a.close();
    const after = other();
    expect(after.intents().map((i) => i.status)).toEqual(['succeeded', 'succeeded']);
    after.close();
  });

  it('a process killed before an unattended outcome is committed leaves the intent to be interrupted at the next start', () => {
    // The dying run is a real process, SIGKILLed by itself right after the outcome was queued.
    const dist = (m: string): string => JSON.stringify(pathToFileURL(join(process.cwd(), 'dist', m)).href);
    const script = `
      const { Journal } = await import(${dist('journal/index.js')});
      const { systemClock } = await import(${dist('core/index.js')});
      const a = Journal.openWriter(${JSON.stringify(db)}, { clock: systemClock, runId: 'run-a', bootId: 'boot-1', batchDelayMs: 60000 });
      const i = a.beginIntent({ action: 'service.start', target: 'app', reason: 'start-up', requestedBy: 'recovery' });
      a.finishIntent(i, 'succeeded', 'app started', { pid: 42 }, true);
      process.kill(process.pid, 'SIGKILL');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.signal, r.stderr).toBe('SIGKILL');
    const b = open('run-b');
    expect(b.resolveInterruptedIntents().map((i) => i.target)).toEqual(['app']);
    expect(b.intents().map((i) => i.status)).toEqual(['interrupted']);
    expect(b.events().map((e) => e.kind)).toEqual(['action.requested', 'action.interrupted']);
    expect(verifyChain(b.events()).ok).toBe(true);
    b.close();
  });

  it('stores state values durably, read back checked against their schema', () => {
    const j = open();
    j.writeState(MODE_KEY, 'safe');
    j.writeStates({ [BUNDLES_FAILURES_KEY]: { abc: 2 }, [REBOOTS_KEY]: [{ at: 5, service: null, reason: 'r' }] });
    const r = JournalReader.openReadOnly(db);
    expect(r.readState(MODE_KEY)).toBe('safe');
    expect(r.readState(BUNDLES_FAILURES_KEY)).toEqual({ abc: 2 });
    expect(r.readState(REBOOTS_KEY)).toEqual([{ at: 5, service: null, reason: 'r' }]);
    expect(r.readState(CONFIG_HASH_KEY)).toBeUndefined();
    r.close();
    j.close();
  });

  it('names the key when a stored value does not match its schema, and refuses to write one that does not', () => {
    const j = open();
    // The untyped writer (kept for modules not moved yet) can still store anything: the reader must say so.
    j.setState(MODE_KEY, 'sideways');
    j.setState(CURRENT_RUN_KEY, { run_id: 'r', boot_id: 'b', started_at: 't' });
    expect(() => j.readState(MODE_KEY)).toThrow(/journal state mode\.current does not match its schema/);
    expect(() => j.readState(CURRENT_RUN_KEY)).toThrow(/run\.current .*pid/);
    j.setState(BUNDLES_SEQ_KEY, 3);
    expect(() => j.writeState(BUNDLES_SEQ_KEY, 'four' as never)).toThrow(/bundles\.seq does not match/);
    expect(() => j.writeStates({ [BUNDLES_SEQ_KEY]: 5, [MODE_KEY]: 'up' as never })).toThrow(/mode\.current does not match/);
    // Nothing of a refused multi-key write was stored.
    expect(j.readState(BUNDLES_SEQ_KEY)).toBe(3);
    j.close();
  });

  it('hands back a value as stored, fields it does not know kept', () => {
    const j = open();
    const run = { run_id: 'r', boot_id: 'b', started_at: 't', pid: 7, added_later: true };
    j.setState(CURRENT_RUN_KEY, run);
    expect(j.readState(CURRENT_RUN_KEY)).toEqual(run);
    j.close();
  });

  it('answers the HIL checks through the reader: span, one event, one intent, the last of a kind, exact kinds', () => {
    const j = open();
    const intent = j.beginIntent({ action: 'mode.set', reason: 'r', requestedBy: 'operator:a' });
    j.appendDurableWritingStates({ kind: 'mode.changed', source: 'operator:a', reason: 'r', data: { from: 'normal', to: 'safe' } }, { [MODE_KEY]: 'safe' });
    j.finishIntent(intent, 'succeeded', 'done');
    j.appendDurable({ kind: 'evidence.pruned', source: 'evidence', reason: 'r', data: { removed: ['a.tar.gz'] } });
    j.appendDurable({ kind: policyEventKind('evidence.pruned_more'), source: 'policy:x', reason: 'r' });
    j.appendSamples([{ ts_ms: 1, name: 'cpu', value: 1, unit: 'ratio', labels: {} }]);
    const r = JournalReader.openReadOnly(db);
    expect(r.integrityCheck()).toEqual(['ok']);
    expect(r.eventSpan()).toEqual({ count: 5, first: 1, last: 5 });
    expect(r.eventAt(2)?.kind).toBe('mode.changed');
    expect(r.eventAt(99)).toBeUndefined();
    expect(r.intent(intent.id)).toMatchObject({ status: 'succeeded', action: 'mode.set', outcome: {} });
    expect(r.intent(intent.id + 1)).toBeUndefined();
    expect(r.readTogether(() => [r.lastEventOf('mode.changed')?.data.to, r.readState(MODE_KEY)])).toEqual(['safe', 'safe']);
    expect(r.lastEventOf('daemon.start')).toBeUndefined();
    expect(r.events({ kind: 'evidence.pruned' }).map((e) => e.seq)).toEqual([4]);
    expect(r.events({ kindPrefix: 'evidence.pruned' })).toHaveLength(2);
    expect(r.sampleCount()).toBe(1);
    r.close();
    j.close();
  });

  it('still reads and writes untyped values through the deprecated calls', () => {
    const j = open();
    j.setStates({ 'some.key': { x: 1 } });
    expect(j.getState('some.key')).toEqual({ x: 1 });
    expect(j.getState('missing')).toBeUndefined();
    j.close();
  });

  it('stores metric samples as one catalogue row per series and chunks of its samples', () => {
    const j = open();
    j.appendSamples([
      { ts_ms: 1, name: 'cpu', value: 0.5, unit: 'ratio', labels: { core: '0' } },
      { ts_ms: 2, name: 'mem', value: 100, unit: 'bytes', labels: {} },
      { ts_ms: 3, name: 'cpu', value: 0.25, unit: 'ratio', labels: { core: '0' } },
    ]);
    expect(j.seriesCatalogue()).toEqual([
      { id: 1, name: 'cpu', unit: 'ratio', labels: '{"core":"0"}' },
      { id: 2, name: 'mem', unit: 'bytes', labels: '{}' },
    ]);
    const chunks = j.chunksStartingIn(0, 10);
    expect(chunks.map((c) => [c.series_id, c.start_ms, c.end_ms, c.count])).toEqual([
      [1, 1, 3, 2],
      [2, 2, 2, 1],
    ]);
    expect(decodeChunk(chunks[0]?.data as Uint8Array)).toEqual([
      { t: 1, v: 0.5 },
      { t: 3, v: 0.25 },
    ]);
    expect(j.sampleCount()).toBe(3);
    expect(j.metricsFootprint()).toMatchObject({ raw_rows: 2, raw_samples: 3, raw_oldest_ms: 1, raw_bytes: chunks.reduce((n, c) => n + c.data.length, 0) });
    j.close();
  });
});

describe('verifyJournal', () => {
  function tamper(sql: string): void {
    const d = new Database(db);
    d.prepare(sql).run();
    d.close();
  }

  function filled(): void {
    const j = open();
    for (let i = 0; i < 10; i++) j.append({ kind: 'daemon.start', source: 's', reason: `r${i}`, data: { i } });
    j.close();
  }

  it.each([
    ['a changed reason', "UPDATE events SET reason = 'forged' WHERE seq = 4", 4, /changed after it was written/],
    ['changed data', `UPDATE events SET data = '{"i":99}' WHERE seq = 5`, 5, /changed after it was written/],
    ['a deleted row', 'DELETE FROM events WHERE seq = 6', 7, /seq 6\.\.6 missing/],
    ['a relinked prev_hash', "UPDATE events SET prev_hash = 'ab' WHERE seq = 8", 8, /prev_hash/],
    ['broken JSON data', "UPDATE events SET data = '{' WHERE seq = 2", 2, /not valid JSON/],
    ['an unknown severity', "UPDATE events SET severity = 'meh' WHERE seq = 9", 9, /severity/],
  ])('names the first broken seq after %s', (_name, sql, seq, problem) => {
    filled();
    tamper(sql);
    const r = JournalReader.openReadOnly(db);
    const report = verifyJournal(r);
    r.close();
    expect(report.ok).toBe(false);
    expect(report.broken?.seq).toBe(seq);
    expect(report.broken?.problem).toMatch(problem);
  });

  it('an intact journal verifies', () => {
    filled();
    const r = JournalReader.openReadOnly(db);
    expect(verifyJournal(r)).toMatchObject({ ok: true, events: 10 });
    r.close();
  });
});
