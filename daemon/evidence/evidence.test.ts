import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { create as createTar, extract as extractTar } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asRole } from '../../test/helpers/authorizers.js';
import { dispatch, evidenceRoutes } from '../api/index.js';
import { writeRunMeta, RUN_META_SCHEMA_VERSION } from '../artifacts/index.js';
import { FakeClock, type Paths, ensureLayout, pathsFor, silentLogger } from '../core/index.js';
import { Journal } from '../journal/index.js';
import {
  EvidenceService,
  type EvidenceSettings,
  buildPack,
  loadOrCreateDeviceKey,
  packName,
  parsePublicKey,
  reasonSlug,
  scriptSafeJson,
  spoolFilesInWindow,
  verifyPack,
} from './index.js';

let root: string;
let paths: Paths;
let clock: FakeClock;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'evidence-'));
  paths = pathsFor(root);
  ensureLayout(paths);
  clock = new FakeClock(Date.UTC(2026, 10, 22, 12, 0, 0));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const CANARY = 'canary-Zq8xW3vT9pLr';

const SETTINGS: EvidenceSettings = {
  schedule: null,
  keep: 20,
  max_bytes: 1e9,
  incident_max: 1,
  incident_per_ms: 3_600_000,
  window_before_ms: 600_000,
  window_after_ms: 0,
  default_window_ms: 3_600_000,
};

function fillJournal(j: Journal, minutes: number): void {
  for (let m = 0; m < minutes; m++) {
    j.append({ kind: m % 10 === 5 ? 'policy.alert' : 'service.started', severity: m % 10 === 5 ? 'warning' : 'info', source: 't', reason: `minute ${m}`, data: { m } });
    j.appendSamples([
      { ts_ms: clock.now(), name: 'cpu_usage', value: (m % 7) / 7, unit: 'ratio', labels: {} },
      { ts_ms: clock.now(), name: 'temp', value: 40 + m, unit: 'celsius', labels: { zone: 'a' } },
    ]);
    clock.advance(60_000);
  }
  j.flush();
}

function service(j: Journal, settings: Partial<EvidenceSettings> = {}): EvidenceService {
  const key = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, 'dev-1', clock.now()).key;
  return new EvidenceService({
    journal: j,
    paths,
    clock,
    log: silentLogger(),
    bootId: 'boot-1',
    key,
    device: { device_id: 'dev-1', app_id: 'pump', environment: 'test' },
    waveos: { version: '0.0.0-test' },
    runId: 'r1',
    config: { device: { device_id: 'dev-1' }, uplink: { token: CANARY, url: 'https://u:pw-secret-1@example.org/x' } },
    configFile: undefined,
    policyFiles: () => [],
    env: { WAVEOS_UPLINK_TOKEN: CANARY },
    systemFacts: () => Promise.resolve({ env: { WAVEOS_UPLINK_TOKEN: CANARY } }),
    settings: { ...SETTINGS, ...settings },
  });
}

async function unpack(file: string): Promise<string> {
  const dir = mkdtempSync(join(root, 'x-'));
  await extractTar({ file, cwd: dir });
  return dir;
}

function allFiles(dir: string, base = ''): string[] {
  return readdirSync(join(dir, base), { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? allFiles(dir, join(base, d.name)) : [join(base, d.name)]));
}

/** Re-packs an extracted pack in its original order after `edit` changed the folder. */
async function repack(file: string, edit: (dir: string) => void): Promise<string> {
  const dir = await unpack(file);
  const order: string[] = [];
  await (await import('tar')).list({ file, onReadEntry: (e) => order.push(e.path) });
  edit(dir);
  const present = order.filter((p) => allFiles(dir).includes(p));
  const extra = allFiles(dir).filter((p) => !order.includes(p));
  const out = join(root, `tampered-${Math.random().toString(16).slice(2)}.tar.gz`);
  await createTar({ file: out, cwd: dir, gzip: true, portable: true }, [...present, ...extra]);
  return out;
}

describe('device key', () => {
  it('is made once with mode 0600, kept across loads, and a broken one is moved aside, not overwritten', () => {
    const a = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, 'dev-1', 1);
    expect(a.created).toBe(true);
    expect(statSync(paths.deviceKey).mode & 0o777).toBe(0o600);
    const b = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, 'dev-1', 2);
    expect(b.created).toBe(false);
    expect(b.key.publicKeyB64).toBe(a.key.publicKeyB64);
    expect(parsePublicKey(readFileSync(paths.devicePub, 'utf8'))).toEqual(a.key.publicKey);
    writeFileSync(paths.deviceKey, '{"algorithm":"ed25519","secret_key":"AAAA"}');
    const c = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, 'dev-1', 3);
    expect(c.created).toBe(true);
    expect(c.quarantined).toBe(`${paths.deviceKey}.unreadable-3`);
    expect(readFileSync(c.quarantined as string, 'utf8')).toContain('AAAA');
    expect(c.key.publicKeyB64).not.toBe(a.key.publicKeyB64);
  });

  it('reads public keys as base64, hex, the .pub line or JSON', () => {
    const k = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, 'd', 1).key;
    const hex = Buffer.from(k.publicKey).toString('hex');
    for (const text of [k.publicKeyB64, hex, `# comment\n${k.publicKeyB64} ed25519:x d\n`, JSON.stringify({ public_key: k.publicKeyB64 })]) {
      expect(parsePublicKey(text)).toEqual(k.publicKey);
    }
    expect(parsePublicKey('not a key')).toBeUndefined();
  });
});


describe('names and embedding', () => {
  it('names packs as the contract says', () => {
    expect(packName('dev-1', Date.UTC(2026, 10, 22, 1, 2, 3), 'Crash loop: sensor-app!')).toBe('evidence-dev-1-20261122T010203Z-crash-loop-sensor-app.tar.gz');
    expect(reasonSlug('!!!')).toBe('export');
  });

  it('embeds JSON that cannot end its script element', () => {
    const s = scriptSafeJson({ r: '</script><script>alert(1)</script>', c: '<!--' });
    expect(s).not.toMatch(/<\/script|<!--/i);
    expect(JSON.parse(s)).toEqual({ r: '</script><script>alert(1)</script>', c: '<!--' });
  });
});

describe('spool files in a window', () => {
  it('takes a file when its span (previous mtime .. own mtime) meets the window', () => {
    const dir = join(paths.spoolDir, 'app');
    mkdirSync(dir, { recursive: true });
    const t = (min: number): number => Date.UTC(2026, 0, 1, 0, min) / 1000;
    for (const [n, min] of [['a.log.gz', 10], ['b.log.gz', 20], ['c.log.gz', 30], ['current.log', 40]] as const) {
      writeFileSync(join(dir, n), 'x\n');
      utimesSync(join(dir, n), t(min), t(min));
    }
    const names = (s: number, u: number): string[] => spoolFilesInWindow(dir, t(s) * 1000, t(u) * 1000).map((f) => f.file.split('/').pop() as string);
    expect(names(21, 25)).toEqual(['c.log.gz']);
    expect(names(15, 35)).toEqual(['b.log.gz', 'c.log.gz', 'current.log']);
    expect(names(41, 50)).toEqual([]);
  });
});

describe('buildPack and verifyPack', () => {
  it('writes a pack that verifies, holds the window and no secret; any change is named', async () => {
    const j = Journal.openWriter(paths.db, { clock, runId: 'r1', bootId: 'b', batchDelayMs: 1000 });
    fillJournal(j, 30);
    writeRunMeta(paths, {
      schema_version: RUN_META_SCHEMA_VERSION,
      run_id: 'r1',
      boot_id: 'b',
      started_at: '2026-11-22T12:00:00.000Z',
      waveos_version: '0.0.0-test',
      policy_version: null,
      bundle_ids: {},
      bundles_by_name: {},
      config_hash: 'x',
      config_file: null,
      profile: 'dev',
      build: { git_commit: null, git_dirty: null, built_at: null, node_version: process.version },
      device: { device_id: 'dev-1', app_id: 'pump', environment: 'test' },
      feature_flags: {},
      previous_run: null,
    });
    const spool = join(paths.spoolDir, 'sensor-app');
    mkdirSync(spool, { recursive: true });
    writeFileSync(join(spool, 'old.log.gz'), gzipSync(`boot ok\nuplink token=${CANARY}\n`));
    writeFileSync(join(spool, 'current.log'), `reading 1\nAuthorization: Bearer ${CANARY}\n`);
    // The spool's files were written during the window (the fake clock's day).
    utimesSync(join(spool, 'old.log.gz'), Date.UTC(2026, 10, 22, 12, 12) / 1000, Date.UTC(2026, 10, 22, 12, 12) / 1000);
    utimesSync(join(spool, 'current.log'), Date.UTC(2026, 10, 22, 12, 25) / 1000, Date.UTC(2026, 10, 22, 12, 25) / 1000);
    const svc = service(j);
    const since = Date.UTC(2026, 10, 22, 12, 10);
    const until = Date.UTC(2026, 10, 22, 12, 19, 59);
    const out = await svc.exportNow({ reason: 'unit test', since, until: until + 1 });
    if (!out.ok) throw new Error(out.error);
    expect(out.events).toBe(10);
    expect(out.samples).toBe(20);

    const report = await verifyPack(out.file);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.events_checked).toBe(10);
    expect(report.manifest?.journal).toMatchObject({ first_seq: 11, last_seq: 20, chain_verified: true });

    const dir = await unpack(out.file);
    const files = allFiles(dir).sort();
    expect(files).toEqual(
      expect.arrayContaining(['MANIFEST.json', 'MANIFEST.sig', 'run_meta.json', 'events.jsonl', 'metrics.csv', 'bundles.json', 'system.json', 'report.html', 'config/effective.json', 'logs/sensor-app/current.log', 'logs/sensor-app/old.log.gz', 'device.pub']),
    );
    const csv = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('ts,metric,value,unit,labels');
    expect(csv[1]?.startsWith('2026-11-22T12:10:00.000Z,cpu_usage')).toBe(true);
    expect(csv[csv.length - 1]?.startsWith('2026-11-22T12:19:00.000Z,temp')).toBe(true);
    const secret = JSON.parse(readFileSync(paths.deviceKey, 'utf8')).secret_key as string;
    for (const f of files) {
      let text = readFileSync(join(dir, f));
      if (f.endsWith('.gz')) text = gunzipSync(text);
      expect(text.includes(CANARY), `${f} holds the canary`).toBe(false);
      expect(text.includes('pw-secret-1'), `${f} holds the URL password`).toBe(false);
      expect(text.includes(secret), `${f} holds the device secret key`).toBe(false);
    }
    expect(gunzipSync(readFileSync(join(dir, 'logs/sensor-app/old.log.gz'))).toString()).toContain('boot ok');

    // Tampering: each named.
    const cases: [string, (d: string) => void, string][] = [
      ['events.jsonl', (d) => writeFileSync(join(d, 'events.jsonl'), readFileSync(join(d, 'events.jsonl'), 'utf8').replace('minute 12', 'minute 13')), 'events.jsonl'],
      ['metrics.csv', (d) => writeFileSync(join(d, 'metrics.csv'), `${readFileSync(join(d, 'metrics.csv'), 'utf8')} `), 'metrics.csv'],
      ['report.html', (d) => writeFileSync(join(d, 'report.html'), readFileSync(join(d, 'report.html'), 'utf8').replace('Integrity', 'Integrlty')), 'report.html'],
      ['a log', (d) => writeFileSync(join(d, 'logs/sensor-app/current.log'), 'nothing happened\n'), 'logs/sensor-app/current.log'],
      ['MANIFEST.json', (d) => writeFileSync(join(d, 'MANIFEST.json'), readFileSync(join(d, 'MANIFEST.json'), 'utf8').replace('unit test', 'unit tesT')), 'MANIFEST.json'],
      ['MANIFEST.sig', (d) => writeFileSync(join(d, 'MANIFEST.sig'), `${Buffer.alloc(64, 7).toString('base64')}\n`), 'MANIFEST.sig'],
      ['removed file', (d) => rmSync(join(d, 'system.json')), 'system.json'],
      ['added file', (d) => writeFileSync(join(d, 'extra.txt'), 'x'), 'extra.txt'],
    ];
    for (const [what, edit, named] of cases) {
      const bad = await verifyPack(await repack(out.file, edit));
      expect(bad.ok, what).toBe(false);
      expect(bad.problems.map((p) => p.file).join(' '), what).toContain(named);
    }
    // A trusted-key directory without this device's key fails; with it, passes.
    const keys = mkdtempSync(join(root, 'keys-'));
    writeFileSync(join(keys, 'other.pub'), `${Buffer.alloc(32, 1).toString('base64')}\n`);
    expect((await verifyPack(out.file, { keysDir: keys })).problems.map((p) => p.file)).toEqual(['MANIFEST.sig']);
    writeFileSync(join(keys, 'dev-1.pub'), readFileSync(paths.devicePub));
    expect(await verifyPack(out.file, { keysDir: keys })).toMatchObject({ ok: true, trusted_by: 'dev-1.pub' });
    j.close();
  });

  it('reports a chain broken in the journal at export time', async () => {
    const j = Journal.openWriter(paths.db, { clock, runId: 'r1', bootId: 'b', batchDelayMs: 1000 });
    fillJournal(j, 5);
    j.close();
    // Change an event's reason behind the journal's back.
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(paths.db);
    db.prepare("UPDATE events SET reason = 'edited' WHERE seq = 3").run();
    db.close();
    const j2 = Journal.openWriter(paths.db, { clock, runId: 'r2', bootId: 'b', batchDelayMs: 1000 });
    const key = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, 'dev-1', clock.now()).key;
    const built = await buildPack(
      { journal: j2, paths, key, device: { device_id: 'd', app_id: 'a', environment: 'e' }, waveos: { version: 't' }, runId: 'r2', config: {}, policyFiles: () => [], env: {}, systemFacts: () => Promise.resolve({}) },
      { sinceMs: 0, untilMs: clock.now(), reason: 'x', trigger: 'manual', requestedBy: 't', nowMs: clock.now() },
    );
    expect(built.manifest.journal.chain_verified).toBe(false);
    expect(built.manifest.notes.join(' ')).toContain('seq 3');
    const v = await verifyPack(built.file);
    expect(v.ok).toBe(false);
    expect(v.problems[0]).toMatchObject({ file: 'events.jsonl' });
    j2.close();
  });
});

describe('EvidenceService', () => {
  it('exports an incident once its window passed, merges a storm into one pack, and rate limits the rest', async () => {
    const j = Journal.openWriter(paths.db, { clock, runId: 'r1', bootId: 'boot-1', batchDelayMs: 1000 });
    fillJournal(j, 20);
    const svc = service(j, { incident_max: 1, window_after_ms: 50 });
    svc.start();
    const a = svc.exportEvidence({ reason: 'temp high', requestedBy: 'policy:temp', incident: { rule: 'temp', value: 59 } });
    const b = svc.exportEvidence({ reason: 'temp high again', requestedBy: 'policy:temp' });
    expect(a.status).toBe('scheduled');
    expect(b.status).toBe('coalesced');
    if (a.status === 'suppressed' || b.status === 'suppressed') throw new Error('unexpected');
    // Nothing is exported before the window after the incident has passed (on the monotonic clock).
    await new Promise((r) => setTimeout(r, 20));
    expect(svc.list()).toEqual([]);
    clock.advance(60);
    const [oa, ob] = await Promise.all([a.done, b.done]);
    expect(oa).toBe(ob);
    if (!oa.ok) throw new Error(oa.error);
    expect(oa.name).toMatch(/^evidence-dev-1-\d{8}T\d{6}Z-temp-high-1-more\.tar\.gz$/);
    const m = (await verifyPack(oa.file)).manifest;
    expect(m?.trigger).toBe('incident');
    expect((m?.incident as { incidents: unknown[] }).incidents).toHaveLength(2);
    expect(m?.window.since).toBe(new Date(clock.now() - 60 - SETTINGS.window_before_ms).toISOString());

    const c = svc.exportEvidence({ reason: 'temp high a third time' });
    expect(c.status).toBe('suppressed');
    j.flush();
    expect(j.events({ kindPrefix: 'evidence.suppressed' })).toHaveLength(1);
    clock.advance(SETTINGS.incident_per_ms);
    const d = svc.exportEvidence({ reason: 'next hour' });
    expect(d.status).toBe('scheduled');
    clock.advance(100);
    if (d.status !== 'suppressed') expect((await d.done).ok).toBe(true);
    expect(svc.list()).toHaveLength(2);
    j.flush();
    expect(j.events({ kindPrefix: 'evidence.exported' })).toHaveLength(2);
    svc.stop();
    j.close();
  });

  it('finishes a pending incident export after a restart', async () => {
    const j = Journal.openWriter(paths.db, { clock, runId: 'r1', bootId: 'boot-1', batchDelayMs: 1000 });
    fillJournal(j, 3);
    const svc = service(j, { window_after_ms: 3_600_000 });
    svc.start();
    expect(svc.exportEvidence({ reason: 'before the crash' }).status).toBe('scheduled');
    svc.stop();
    j.close();
    // Another boot: the monotonic deadline means nothing there, so the export runs at start.
    const j2 = Journal.openWriter(paths.db, { clock, runId: 'r2', bootId: 'boot-2', batchDelayMs: 1000 });
    const svc2 = new EvidenceService({ ...(svc as unknown as { deps: ConstructorParameters<typeof EvidenceService>[0] }).deps, journal: j2, bootId: 'boot-2' });
    svc2.start();
    for (let i = 0; i < 200 && svc2.list().length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(svc2.list()).toHaveLength(1);
    expect(svc2.list()[0]?.name).toContain('before-the-crash');
    svc2.stop();
    j2.close();
  });

  it('keeps packs within the count quota, oldest first, with an event', async () => {
    const j = Journal.openWriter(paths.db, { clock, runId: 'r1', bootId: 'boot-1', batchDelayMs: 1000 });
    fillJournal(j, 2);
    const svc = service(j, { keep: 2 });
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      const o = await svc.exportNow({ reason: `n${i}` });
      if (!o.ok) throw new Error(o.error);
      names.push(o.name);
      utimesSync(o.file, (clock.now() + i * 1000) / 1000, (clock.now() + i * 1000) / 1000);
      clock.advance(1000);
    }
    expect(svc.list().map((p) => p.name).sort()).toEqual(names.slice(1).sort());
    j.flush();
    expect(j.events({ kindPrefix: 'evidence.pruned' })).toHaveLength(1);
    j.close();
  });
});

describe('evidence routes', () => {
  it('lets a viewer list and download but only an operator export', async () => {
    const routes = evidenceRoutes({
      exportNow: () => Promise.resolve({ ok: false, error: 'not in this test' }),
      list: () => [],
      packPath: () => {
        throw new Error('unreachable');
      },
      publicKey: 'k',
      keyId: 'id',
    });
    const deps = { routes, authorize: asRole('viewer'), log: silentLogger() };
    const exp = await dispatch(deps, { method: 'POST', url: '/v1/evidence/export', body: '{}' });
    expect('status' in exp && exp.status).toBe(403);
    const list = await dispatch(deps, { method: 'GET', url: '/v1/evidence' });
    expect('status' in list && list.status).toBe(200);
  });

  it('refuses names that are not pack names', async () => {
    const k = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, 'd', 1).key;
    void k;
    const j = Journal.openWriter(paths.db, { clock, runId: 'r1', bootId: 'b', batchDelayMs: 1000 });
    const svc = service(j);
    const routes = evidenceRoutes({ exportNow: (r) => svc.exportNow(r), list: () => svc.list(), packPath: (n) => svc.packPath(n), publicKey: svc.publicKey, keyId: svc.keyId });
    const deps = { routes, authorize: asRole('admin'), log: silentLogger() };
    const bad = await dispatch(deps, { method: 'GET', url: '/v1/evidence/..%2Fwaveos.db' });
    expect('status' in bad && bad.status).toBe(400);
    const missing = await dispatch(deps, { method: 'GET', url: '/v1/evidence/evidence-d-20260101T000000Z-x.tar.gz' });
    expect('status' in missing && missing.status).toBe(404);
    j.close();
  });
});

describe('SampleRowFormatter', () => {
  it('writes exactly the rows sampleRow writes, and so do the series row parts', async () => {
    const fc = (await import('fast-check')).default;
    const { sampleRow } = await import('../artifacts/index.js');
    const { canonicalJson } = await import('../core/index.js');
    const { SampleRowFormatter, seriesRowParts } = await import('./csv-rows.js');
    const f = new SampleRowFormatter();
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.string(),
        fc.double({ noNaN: true }),
        fc.string(),
        fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/), fc.string()),
        (ts_ms, name, value, unit, labels) => {
          const raw = { id: 1, ts_ms, name, value, unit, labels: canonicalJson(labels) };
          expect(f.row(raw)).toBe(sampleRow({ ...raw, labels }));
          // The pack's writer: a series' parts around the timestamp and the value.
          const p = seriesRowParts(raw);
          expect(`${new Date(ts_ms).toISOString()}${p.head}${value}${p.tail}`).toBe(sampleRow({ ...raw, labels }));
        },
      ),
    );
  });
});
