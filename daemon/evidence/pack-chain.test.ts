import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, type Paths, ensureLayout, pathsFor } from '../core/index.js';
import { Journal, JournalReader, verifyJournal } from '../journal/index.js';
import { buildPack, loadOrCreateDeviceKey, verifyPack } from './index.js';

let root: string;
let paths: Paths;
const clock = new FakeClock(Date.UTC(2026, 10, 22, 12, 0, 0));
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'pack-chain-'));
  paths = pathsFor(root);
  ensureLayout(paths);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function filled(tamper?: string): void {
  const j = Journal.openWriter(paths.db, { clock, runId: 'r1', bootId: 'b', batchDelayMs: 1_000 });
  for (let i = 0; i < 10; i++) {
    j.append({ kind: 'daemon.start', source: 's', reason: `r${i}`, data: { i } });
    clock.advance(1_000);
  }
  j.close();
  if (tamper) {
    const d = new Database(paths.db);
    d.prepare(tamper).run();
    d.close();
  }
}

async function exportAll(journal: JournalReader): Promise<Awaited<ReturnType<typeof buildPack>>> {
  const key = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, 'd', clock.now()).key;
  return buildPack(
    { journal, paths, key, device: { device_id: 'd', app_id: 'a', environment: 'e' }, waveos: { version: 't' }, runId: 'r1', config: {}, policyFiles: () => [], env: {}, systemFacts: () => Promise.resolve({}) },
    { sinceMs: 0, untilMs: clock.now(), reason: 'x', trigger: 'manual', requestedBy: 't', nowMs: clock.now() },
  );
}

describe('the head mark in the pack', () => {
  it('is the journal\'s, past a window that ends before the journal does', async () => {
    filled();
    const reader = JournalReader.openReadOnly(paths.db);
    try {
      const key = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, 'd', clock.now()).key;
      const built = await buildPack(
        { journal: reader, paths, key, device: { device_id: 'd', app_id: 'a', environment: 'e' }, waveos: { version: 't' }, runId: 'r1', config: {}, policyFiles: () => [], env: {}, systemFacts: () => Promise.resolve({}) },
        { sinceMs: 0, untilMs: clock.now() - 5_500, reason: 'x', trigger: 'manual', requestedBy: 't', nowMs: clock.now() },
      );
      expect(built.manifest.journal).toMatchObject({ last_seq: 5, head_seq: 10, head_hash: reader.eventAt(10)?.hash });
      expect(await verifyPack(built.file)).toMatchObject({ ok: true });
    } finally {
      reader.close();
    }
  });
});

describe('the chain check of `journal verify` and of the pack builder', () => {
  it.each([
    ['a tampered event', "UPDATE events SET reason = 'forged' WHERE seq = 4", 4, /changed after it was written/],
    ['a gap', 'DELETE FROM events WHERE seq = 6', 7, /seq 6\.\.6 missing/],
    ['a wrong prev_hash', "UPDATE events SET prev_hash = 'ab' WHERE seq = 8", 8, /prev_hash does not match/],
  ])('find %s at the same seq, with the same words', async (_what, sql, seq, problem) => {
    filled(sql);
    const reader = JournalReader.openReadOnly(paths.db);
    try {
      const v = verifyJournal(reader);
      expect(v.ok).toBe(false);
      expect(v.broken?.seq).toBe(seq);
      expect(v.broken?.problem).toMatch(problem);
      const built = await exportAll(reader);
      expect(built.manifest.journal.chain_verified).toBe(false);
      expect(built.manifest.notes).toContain(`the hash chain did not verify at export time: seq ${v.broken?.seq}: ${v.broken?.problem}`);
      // The pack still holds the events as they are, so the break shows again when the pack is checked.
      expect((await verifyPack(built.file)).problems[0]).toMatchObject({ file: 'events.jsonl', message: expect.stringContaining(`seq ${seq}`) as unknown });
    } finally {
      reader.close();
    }
  });

  it('agree on an intact journal', async () => {
    filled();
    const reader = JournalReader.openReadOnly(paths.db);
    try {
      expect(verifyJournal(reader)).toMatchObject({ ok: true, events: 10 });
      const built = await exportAll(reader);
      expect(built.manifest.journal).toMatchObject({ events: 10, first_seq: 1, last_seq: 10, chain_verified: true, head_seq: 10, head_hash: reader.headMark()?.hash });
      expect(built.manifest.notes.filter((n) => n.includes('hash chain'))).toEqual([]);
      expect(await verifyPack(built.file)).toMatchObject({ ok: true, events_checked: 10 });
    } finally {
      reader.close();
    }
  });
});
