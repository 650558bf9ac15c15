#!/usr/bin/env node
// Writes the test vectors of docs/formats/vectors/ (journals, evidence packs, bundles, keys) and their
// verdicts.json, and the metric chunk vectors (chunks.json, scripts/chunk-vectors.mjs), with keys made from fixed seeds and a fixed clock, using the daemon's own code from dist/
// (run `npm run build` first). Every tampered file is made from a valid one by one stated change.
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import nacl from 'tweetnacl';
import { create as createTar, extract as extractTar, list as listTar } from 'tar';
import { chunkVectors, writeChunkVectors } from './chunk-vectors.mjs';

const REPO = resolve(import.meta.dirname, '..');
const OUT = join(REPO, 'docs/formats/vectors');
const dist = (p) => import(join(REPO, 'dist', p));
const { FakeClock, ensureLayout, pathsFor } = await dist('core/index.js');
const { GENESIS_HASH, Journal, JournalReader, canonicalBody, chainHash, migrateSchema } = await dist('journal/index.js');
const { buildPack } = await dist('evidence/index.js');
const { buildBundle, computeBundleId, keyIdOf, manifestBytes, signDetached, writeTar } = await dist('bundles/index.js');

const T0 = Date.UTC(2026, 0, 15, 8, 0, 0);
const b64 = (u) => Buffer.from(u).toString('base64');
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
/** An ed25519 key pair from a fixed seed: byte i of the seed is `seed + i`. */
const keyPair = (seed) => nacl.sign.keyPair.fromSeed(Uint8Array.from({ length: 32 }, (_, i) => (seed + i) & 0xff));

const verdicts = [];
function verdict(file, kind, valid, reason, note, extra = {}) {
  verdicts.push({ file, kind, valid, reason: valid ? null : reason, ...extra, note });
}

const scratch = mkdtempSync(join(tmpdir(), 'waveos-vectors-'));
// Everything here is made anew but jcs.json, which is written by hand from RFC 8785.
mkdirSync(OUT, { recursive: true });
for (const f of readdirSync(OUT)) if (f !== 'jcs.json') rmSync(join(OUT, f), { recursive: true, force: true });
mkdirSync(join(OUT, 'keys'), { recursive: true });
mkdirSync(join(OUT, 'trusted'), { recursive: true });

// ---------- keys ----------
const bundleKey = keyPair(1);
const otherKey = keyPair(64);
const deviceKey = keyPair(128);
const bundleKeyId = keyIdOf(bundleKey.publicKey);
const pubJson = (o) => `${JSON.stringify(o, null, 2)}\n`;
function keyFiles() {
  const k = (name, text, valid, reason, note) => {
    writeFileSync(join(OUT, 'keys', name), text);
    verdict(`keys/${name}`, name.endsWith('device.pub') ? 'device-pub' : name.endsWith('.key') ? 'secret-key' : 'public-key', valid, reason, note);
  };
  k(`${bundleKeyId}.pub`, pubJson({ key_id: bundleKeyId, algorithm: 'ed25519', public_key: b64(bundleKey.publicKey) }), true, null, 'a bundle signing key (seed 1..32)');
  k(`${bundleKeyId}.key`, pubJson({ key_id: bundleKeyId, algorithm: 'ed25519', secret_key: b64(bundleKey.secretKey) }), true, null, 'its secret half: the seed then the public key');
  k('wrong-key-id.pub', pubJson({ key_id: keyIdOf(otherKey.publicKey), algorithm: 'ed25519', public_key: b64(bundleKey.publicKey) }), false, 'key_id.mismatch', "key_id is another key's");
  k('short-key.pub', pubJson({ key_id: keyIdOf(bundleKey.publicKey.slice(0, 31)), algorithm: 'ed25519', public_key: b64(bundleKey.publicKey.slice(0, 31)) }), false, 'public_key.length', 'public_key is 31 bytes');
  k('extra-member.pub', pubJson({ key_id: bundleKeyId, algorithm: 'ed25519', public_key: b64(bundleKey.publicKey), comment: 'x' }), false, 'members', 'a member other than key_id, algorithm, public_key');
  k('device.pub', `${b64(deviceKey.publicKey)} ed25519:${keyIdOf(deviceKey.publicKey)} vec-device\n`, true, null, 'a device key as device.pub writes it (seed 128..159)');
  k('wrong-id-device.pub', `${b64(deviceKey.publicKey)} ed25519:${keyIdOf(otherKey.publicKey)} vec-device\n`, false, 'key_id.mismatch', "the key id after the key is another key's");
  writeFileSync(join(OUT, 'trusted', `${bundleKeyId}.pub`), readFileSync(join(OUT, 'keys', `${bundleKeyId}.pub`)));
  writeFileSync(join(OUT, 'trusted', 'device.pub'), readFileSync(join(OUT, 'keys', 'device.pub')));
}

// ---------- journals ----------
const EVENT_DATA = [
  { pid: 412, restarts: 3 },
  { big: 1e21, small: 1e-7, neg_zero: -0, ratio: 0.30000000000000004 },
  { 'é': 1, z: 2, '\u{1F600}': 3, '\uFB33': 4, nested: { b: [true, null, 'x'], a: {} } },
  { text: 'line\nbreak "quoted" \\ tab\t \u0001 \u2028 caf\u00e9' },
  { from: 'normal', to: 'safe' },
  {},
];

function toDeleteMode(file) {
  const d = new Database(file);
  d.pragma('journal_mode = DELETE');
  d.close();
}

function writeV2Events(file, clock, runId, n, offset = 0) {
  const j = Journal.openWriter(file, { clock, runId, bootId: 'boot-vec-1' });
  for (let i = 0; i < n; i++) {
    j.append({ kind: i % 2 ? 'service.restart' : 'daemon.start', severity: i % 3 === 2 ? 'warning' : 'info', source: 'vectors', reason: `event ${offset + i + 1}: restarted after a crash`, data: EVENT_DATA[(offset + i) % EVENT_DATA.length] });
    clock.advance(250);
  }
  j.close();
  toDeleteMode(file);
}

/** Rows as WaveOS wrote them before event format 2 (schema 2, no v column), version 1 hashes. */
function writeV1Events(file, n) {
  const d = new Database(file);
  migrateSchema(d, 2);
  let prev = GENESIS_HASH;
  const ins = d.prepare('INSERT INTO events (seq, ts, mono_ms, run_id, boot_id, kind, severity, source, reason, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)');
  for (let seq = 1; seq <= n; seq++) {
    const e = { v: 1, seq, ts: new Date(T0 - 3_600_000 + seq * 1000).toISOString(), mono_ms: 5000 + seq, run_id: 'run-old', boot_id: 'boot-old', kind: 'daemon.start', severity: 'info', source: 'daemon', reason: `old event ${seq}`, data: EVENT_DATA[seq % EVENT_DATA.length] };
    const hash = chainHash(prev, canonicalBody(e));
    ins.run(seq, e.ts, e.mono_ms, e.run_id, e.boot_id, e.kind, e.severity, e.source, e.reason, JSON.stringify(e.data), prev, hash);
    prev = hash;
  }
  d.close();
}

function tamperedJournal(from, name, sql, reason, note) {
  const file = join(OUT, name);
  copyFileSync(join(OUT, from), file);
  const d = new Database(file);
  d.exec(sql);
  d.close();
  verdict(name, 'journal', false, reason, note);
}

function journals() {
  const valid = join(OUT, 'journal-v2.db');
  writeV2Events(valid, new FakeClock(T0), 'run-vec-1', 8);
  verdict('journal-v2.db', 'journal', true, null, '8 events of format 2, head mark at seq 8');

  const mixed = join(OUT, 'journal-v1-v2.db');
  writeV1Events(mixed, 4);
  writeV2Events(mixed, new FakeClock(T0), 'run-vec-2', 4, 4);
  verdict('journal-v1-v2.db', 'journal', true, null, 'seq 1-4 of format 1 (migrated), 5-8 of format 2 on the same chain');

  const old = join(OUT, 'journal-schema2.db');
  writeV1Events(old, 3);
  verdict('journal-schema2.db', 'journal', true, null, 'as an older WaveOS left it: schema 2, no v column (every row is version 1), no head mark');

  tamperedJournal('journal-v2.db', 'journal-truncated-tail.db', 'DELETE FROM events WHERE seq > 6', 'tail.truncated', 'the last two rows deleted: seq 7..8 missing at the tail');
  tamperedJournal('journal-v2.db', 'journal-emptied.db', 'DELETE FROM events', 'tail.truncated', 'every row deleted: seq 1..8 missing');
  tamperedJournal('journal-v2.db', 'journal-tail-extra.db', 'UPDATE journal_head SET seq = 7', 'tail.extra', 'the head mark is behind the last row');
  tamperedJournal('journal-v2.db', 'journal-tail-replaced.db', `UPDATE journal_head SET hash = '${'ab'.repeat(32)}'`, 'tail.hash', "the head mark's hash is not the last row's");
  tamperedJournal('journal-v2.db', 'journal-reason-edited.db', "UPDATE events SET reason = reason || '.' WHERE seq = 3", 'hash', 'one byte added to the reason of seq 3');
  tamperedJournal('journal-v2.db', 'journal-data-edited.db', `UPDATE events SET data = '{"pid":413,"restarts":3}' WHERE seq = 1`, 'hash', 'data of seq 1 changed');
  tamperedJournal('journal-v2.db', 'journal-gap.db', 'DELETE FROM events WHERE seq = 4', 'seq.gap', 'seq 4 deleted from the middle');
  tamperedJournal('journal-v2.db', 'journal-relinked.db', `UPDATE events SET prev_hash = '${'0'.repeat(64)}' WHERE seq = 5`, 'prev_hash', 'prev_hash of seq 5 replaced');
  tamperedJournal('journal-v2.db', 'journal-severity.db', "UPDATE events SET severity = 'fatal' WHERE seq = 2", 'severity', 'a severity that does not exist');
  tamperedJournal('journal-v2.db', 'journal-version-unknown.db', 'UPDATE events SET v = 3 WHERE seq = 2', 'version.unknown', 'format version 3');
  tamperedJournal('journal-v1-v2.db', 'journal-version-back.db', 'UPDATE events SET v = 1 WHERE seq = 6', 'version.back', 'a version 2 row relabelled 1 after version 2 rows');
  tamperedJournal('journal-v1-v2.db', 'journal-v1-relabelled.db', 'UPDATE events SET v = 2 WHERE seq = 2', 'hash', 'a version 1 row relabelled 2: its hash is checked by the other rule');
  tamperedJournal('journal-v2.db', 'journal-data-not-json.db', "UPDATE events SET data = '{\"pid\":' WHERE seq = 1", 'data.invalid', 'data is not JSON');
  tamperedJournal('journal-v2.db', 'journal-not-canonical.db', `UPDATE events SET data = '{"n":1e400}' WHERE seq = 1`, 'canonical', 'data holds a number with no RFC 8785 form');
}

// ---------- evidence packs ----------
async function validPack() {
  const root = join(scratch, 'device');
  const paths = pathsFor(root);
  ensureLayout(paths);
  writeFileSync(paths.deviceKey, `${JSON.stringify({ algorithm: 'ed25519', created_at: new Date(T0).toISOString(), public_key: b64(deviceKey.publicKey), secret_key: b64(deviceKey.secretKey) })}\n`, { mode: 0o600 });
  const clock = new FakeClock(T0);
  writeV2Events(paths.db, clock, 'run-vec-1', 10);
  const { loadOrCreateDeviceKey } = await dist('evidence/index.js');
  const key = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, 'vec-device', clock.now()).key;
  const journal = JournalReader.openReadOnly(paths.db);
  try {
    // A window that ends before the journal does: head_seq (10) is past last_seq.
    const built = await buildPack(
      { journal, paths, key, device: { device_id: 'vec-device', app_id: 'vectors', environment: 'test' }, waveos: { version: 'vectors' }, runId: 'run-vec-1', config: { schema_version: 2 }, policyFiles: () => [], env: {}, systemFacts: () => Promise.resolve({ os: 'vectors' }) },
      { sinceMs: T0, untilMs: T0 + 8 * 250 - 1, reason: 'format vectors', trigger: 'manual', requestedBy: 'operator:vectors', nowMs: T0 + 60_000 },
      scratch,
    );
    writeFileSync(join(OUT, 'pack-valid.tar.gz'), readFileSync(built.file));
  } finally {
    journal.close();
  }
  verdict('pack-valid.tar.gz', 'pack', true, null, 'events seq 1-8 of a 10-event journal (head_seq 10), signed by keys/device.pub', { trusted: 'trusted' });
}

async function unpackPack() {
  const dir = mkdtempSync(join(scratch, 'pack-'));
  const order = [];
  await listTar({ file: join(OUT, 'pack-valid.tar.gz'), onReadEntry: (e) => order.push(e.path) });
  await extractTar({ file: join(OUT, 'pack-valid.tar.gz'), cwd: dir });
  return { dir, order };
}

/** The manifest's files[] brought up to date with the folder, and signed again by `signer`. */
function resign(dir, signer, edit = () => undefined) {
  const m = JSON.parse(readFileSync(join(dir, 'MANIFEST.json'), 'utf8'));
  for (const f of m.files) {
    if (!existsSync(join(dir, f.path))) continue;
    const b = readFileSync(join(dir, f.path));
    f.size = b.length;
    f.sha256 = sha256(b);
  }
  edit(m);
  const bytes = Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
  writeFileSync(join(dir, 'MANIFEST.json'), bytes);
  writeFileSync(join(dir, 'MANIFEST.sig'), `${b64(nacl.sign.detached(bytes, signer.secretKey))}\n`);
}

async function tamperedPack(name, reason, note, edit, extra = {}) {
  const { dir, order } = await unpackPack();
  const members = edit(dir, order) ?? order;
  await createTar({ file: join(OUT, name), cwd: dir, gzip: true, portable: true, mtime: new Date(T0), noDirRecurse: true }, members);
  verdict(name, 'pack', false, reason, note, { trusted: 'trusted', ...extra });
}

async function packs() {
  await validPack();
  const lines = (dir) => readFileSync(join(dir, 'events.jsonl'), 'utf8').split('\n').filter(Boolean);
  await tamperedPack('pack-file-changed.tar.gz', 'file.hash', 'one byte of metrics.csv changed, the manifest left alone', (dir) => {
    const f = join(dir, 'metrics.csv');
    const b = readFileSync(f);
    b[0] = b[0] === 0x74 ? 0x54 : 0x74;
    writeFileSync(f, b);
  });
  await tamperedPack('pack-manifest-edited.tar.gz', 'signature.invalid', 'MANIFEST.json changed after signing (the reason)', (dir) => {
    const f = join(dir, 'MANIFEST.json');
    writeFileSync(f, readFileSync(f, 'utf8').replace('"format vectors"', '"format vectorz"'));
  });
  await tamperedPack('pack-event-edited-resigned.tar.gz', 'chain.hash', 'an event reason changed and the manifest re-signed with the device key: only the chain shows it', (dir) => {
    const ls = lines(dir);
    ls[2] = ls[2].replace('event 3:', 'event 3;');
    writeFileSync(join(dir, 'events.jsonl'), `${ls.join('\n')}\n`);
    resign(dir, deviceKey);
  });
  await tamperedPack('pack-events-truncated.tar.gz', 'chain.count', 'the last event line removed, files[] updated and re-signed, the journal block left at 8 events', (dir) => {
    const ls = lines(dir);
    writeFileSync(join(dir, 'events.jsonl'), `${ls.slice(0, -1).join('\n')}\n`);
    resign(dir, deviceKey);
  });
  await tamperedPack('pack-head-behind.tar.gz', 'head.behind', 'journal.head_seq set below last_seq and re-signed', (dir) => {
    resign(dir, deviceKey, (m) => {
      m.journal.head_seq = 5;
    });
  });
  await tamperedPack('pack-extra-file.tar.gz', 'file.extra', 'a file added that the manifest does not list', (dir, order) => {
    writeFileSync(join(dir, 'extra.txt'), 'added\n');
    return [...order, 'extra.txt'];
  });
  await tamperedPack('pack-missing-file.tar.gz', 'file.missing', 'system.json left out of the archive', (_dir, order) => order.filter((p) => p !== 'system.json'));
  await tamperedPack('pack-other-signer.tar.gz', 'signature.untrusted', 'signed again, consistently, by a key that is not trusted', (dir) => {
    resign(dir, otherKey, (m) => {
      m.device.public_key = b64(otherKey.publicKey);
      m.device.key_id = `ed25519:${keyIdOf(otherKey.publicKey)}`;
    });
  });
  await tamperedPack('pack-key-id-mismatch.tar.gz', 'key_id.mismatch', 'device.key_id names another key, re-signed', (dir) => {
    resign(dir, deviceKey, (m) => {
      m.device.key_id = `ed25519:${keyIdOf(otherKey.publicKey)}`;
    });
  });
}

// ---------- bundles ----------
function payloadDir() {
  const dir = join(scratch, 'payload-src');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  writeFileSync(join(dir, 'bin/run.sh'), '#!/bin/sh\necho "vector app"\n');
  writeFileSync(join(dir, 'config.json'), '{"port": 8080}\n');
  symlinkSync('bin/run.sh', join(dir, 'start'));
  chmodSync(join(dir, 'bin/run.sh'), 0o755);
  chmodSync(join(dir, 'config.json'), 0o644);
  chmodSync(join(dir, 'bin'), 0o755);
  return dir;
}

const signingKey = { key_id: bundleKeyId, secretKey: bundleKey.secretKey };

/** A bundle from a manifest and members, signed by `signers` over the manifest's bytes. */
async function craftBundle(name, manifest, members, { signers = [bundleKey], sigBytes } = {}) {
  const bytes = manifestBytes(manifest);
  const sig = sigBytes ?? Buffer.from(`${JSON.stringify({ signatures: signers.map((k) => ({ key_id: keyIdOf(k.publicKey), sig: signDetached(bytes, { key_id: keyIdOf(k.publicKey), secretKey: k.secretKey }) })) })}\n`);
  await writeTar(join(OUT, name), [{ type: 'File', path: 'manifest.json', bytes }, { type: 'File', path: 'manifest.sig', bytes: sig }, ...members]);
}

function payloadMembers(dir, m) {
  return m.files.map((f) =>
    f.type === 'file'
      ? { type: 'File', path: `payload/${f.path}`, mode: f.mode, bytes: readFileSync(join(dir, f.path)) }
      : f.type === 'dir'
        ? { type: 'Directory', path: `payload/${f.path}`, mode: f.mode }
        : { type: 'SymbolicLink', path: `payload/${f.path}`, linkpath: f.target },
  );
}

const withId = (m) => ({ ...m, bundle_id: computeBundleId(m) });

async function bundles() {
  const dir = payloadDir();
  const m = await buildBundle({ dir, kind: 'app', name: 'vector-app', version: '1.2.0', key: signingKey, out: join(OUT, 'bundle-valid.tar'), clock: new FakeClock(T0), app: { run: ['./bin/run.sh'] } });
  const b = (name, valid, reason, note) => verdict(name, 'bundle', valid, reason, note, { trusted: 'trusted' });
  b('bundle-valid.tar', true, null, 'built by waveos bundle build: a folder, an executable, a config file and a symlink');
  const members = payloadMembers(dir, m);
  const run = members.findIndex((e) => e.path === 'payload/bin/run.sh');
  const swap = (i, e) => members.map((x, j) => (j === i ? e : x));

  const flipped = Buffer.from(members[run].bytes);
  flipped[flipped.length - 2] ^= 0x20;
  await craftBundle('bundle-payload-changed.tar', m, swap(run, { ...members[run], bytes: flipped }));
  b('bundle-payload-changed.tar', false, 'hash.sha256', 'one byte of payload/bin/run.sh changed, same size');
  await craftBundle('bundle-payload-size.tar', m, swap(run, { ...members[run], bytes: Buffer.concat([members[run].bytes, Buffer.from('#\n')]) }));
  b('bundle-payload-size.tar', false, 'hash.size', 'payload/bin/run.sh two bytes longer');
  const edited = withId({ ...m, version: '1.2.1' });
  await craftBundle('bundle-manifest-edited.tar', edited, members, { sigBytes: readSig(join(OUT, 'bundle-valid.tar')) });
  b('bundle-manifest-edited.tar', false, 'signature.invalid', 'the version raised after signing, with the original signature');
  await craftBundle('bundle-other-signer.tar', withId({ ...m, key_id: keyIdOf(otherKey.publicKey) }), members, { signers: [otherKey] });
  b('bundle-other-signer.tar', false, 'signature.unknown_key', 'signed by a key that is not trusted');
  await craftBundle('bundle-wrong-id.tar', { ...m, bundle_id: 'f'.repeat(64) }, members);
  b('bundle-wrong-id.tar', false, 'manifest.bundle_id', 'bundle_id is not the sha256 of the canonical manifest (signed)');
  await craftBundle('bundle-expired.tar', withId({ ...m, expires_at: '2020-01-01T00:00:00.000Z' }), members);
  b('bundle-expired.tar', false, 'expired', 'expires_at in 2020 (signed)');
  await craftBundle('bundle-extra-member.tar', m, [...members, { type: 'File', path: 'payload/extra.txt', mode: 0o644, bytes: Buffer.from('x\n') }]);
  b('bundle-extra-member.tar', false, 'file.extra', 'a member the manifest does not list');
  await craftBundle('bundle-missing-member.tar', m, members.filter((e) => e.path !== 'payload/config.json'));
  b('bundle-missing-member.tar', false, 'file.missing', 'payload/config.json left out');
  await craftBundle('bundle-mode.tar', m, swap(run, { ...members[run], mode: 0o777 }));
  b('bundle-mode.tar', false, 'entry.mode', 'payload/bin/run.sh has mode 0777 in the tar, 0755 in the manifest');
  await craftBundle('bundle-dotdot.tar', m, [...members, { type: 'File', path: 'payload/../evil', mode: 0o644, bytes: Buffer.from('x') }]);
  b('bundle-dotdot.tar', false, 'path.dotdot', 'a member payload/../evil');
  await craftBundle('bundle-hardlink.tar', m, [...members, { type: 'Link', path: 'payload/hard', linkpath: 'payload/config.json' }]);
  b('bundle-hardlink.tar', false, 'entry.hardlink', 'a hard link member');
  const escaping = withId({ ...m, files: [...m.files, { type: 'symlink', path: 'out', target: '../../etc/passwd' }] });
  await craftBundle('bundle-symlink-escape.tar', escaping, [...members, { type: 'SymbolicLink', path: 'payload/out', linkpath: '../../etc/passwd' }]);
  b('bundle-symlink-escape.tar', false, 'path.symlink_escape', 'a listed, signed symlink that points outside the payload');
  await writeTar(join(OUT, 'bundle-order.tar'), [{ type: 'File', path: 'manifest.sig', bytes: readSig(join(OUT, 'bundle-valid.tar')) }, { type: 'File', path: 'manifest.json', bytes: manifestBytes(m) }, ...members]);
  b('bundle-order.tar', false, 'format.order', 'manifest.sig before manifest.json');
  writeFileSync(join(OUT, 'bundle-gzip.tar.gz'), gzipSync(readFileSync(join(OUT, 'bundle-valid.tar')), { level: 9 }));
  b('bundle-gzip.tar.gz', false, 'format.compressed', 'the valid bundle, gzip-compressed');
}

/** manifest.sig's bytes out of a bundle (the second member). */
function readSig(file) {
  const t = readFileSync(file);
  let off = 0;
  for (let i = 0; off < t.length; i++) {
    const size = parseInt(t.subarray(off + 124, off + 136).toString().replace(/\0.*$/, '').trim() || '0', 8);
    const type = String.fromCharCode(t[off + 156]);
    const name = t.subarray(off, off + 100).toString().replace(/\0.*$/, '');
    if (type !== 'x' && name === 'manifest.sig') return Buffer.from(t.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${file}: no manifest.sig`);
}

keyFiles();
journals();
await packs();
await bundles();
writeChunkVectors(join(OUT, 'chunks.json'), await chunkVectors());
writeFileSync(
  join(OUT, 'verdicts.json'),
  `${JSON.stringify(
    {
      description:
        'The verdict a verifier must reach on each vector (docs/formats/*.md). `reason` is the code of the check that fails (for journals and bundles the first; for packs one of those reported). `trusted` names the folder of trusted public keys to verify with. Regenerate with `node scripts/make-vectors.mjs` after a build.',
      vectors: verdicts,
    },
    null,
    2,
  )}\n`,
);
rmSync(scratch, { recursive: true, force: true });
console.log(`${verdicts.length} vectors in ${OUT}`);
