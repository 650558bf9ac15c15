import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TestKey, appDir, buildApp, craftBundle, makeKey, member, patchFile } from '../../test/helpers/bundles.js';
import { systemClock } from '../core/index.js';
import { BundleRejection, DEFAULT_LIMITS, type BundleLimits, buildBundle, compareSemver, faultHook, loadTrustedKeys, scanBundle } from './index.js';

let dir: string;
let k: TestKey;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bundles-unit-'));
  k = makeKey(join(dir, 'keys'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const scan = (file: string, extra: Partial<Parameters<typeof scanBundle>[0]> = {}, limits: Partial<BundleLimits> = {}) =>
  scanBundle({ file, keys: loadTrustedKeys(join(dir, 'keys')), limits: { ...DEFAULT_LIMITS, ...limits }, now: new Date(), ...extra });

async function rejection(p: Promise<unknown>): Promise<BundleRejection> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BundleRejection) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('semver', () => {
  it('orders versions as semver.org says', () => {
    const ordered = ['0.9.9', '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.10.0', '2.0.0'];
    for (let i = 0; i < ordered.length - 1; i++) expect(compareSemver(ordered[i] as string, ordered[i + 1] as string)).toBeLessThan(0);
    expect(compareSemver('1.2.3+build.5', '1.2.3')).toBe(0);
  });
  it('is antisymmetric', () => {
    const v = fc.tuple(fc.nat(20), fc.nat(20), fc.nat(20)).map(([a, b, c]) => `${a}.${b}.${c}`);
    fc.assert(fc.property(v, v, (a, b) => Math.sign(compareSemver(a, b)) === -Math.sign(compareSemver(b, a))));
  });
});

describe('build and verify', () => {
  it('round-trips: every file hashed, signed, and extracted with its mode and links', async () => {
    const src = appDir(dir, 'demo', '1.0.0');
    mkdirSync(join(src, 'lib'));
    writeFileSync(join(src, 'lib/data.bin'), Buffer.alloc(3 * 1024 * 1024 + 7, 7));
    const { symlinkSync } = await import('node:fs');
    symlinkSync('../etc/app.conf', join(src, 'lib/conf'));
    const m = await buildApp(k, src, join(dir, 'b.bundle'), '1.0.0');
    expect(m.files.map((f) => `${f.type} ${f.path}`).sort()).toEqual(['dir etc', 'dir lib', 'file etc/app.conf', 'file lib/data.bin', 'file run.sh', 'symlink lib/conf']);
    expect(m.schema_version).toBe(2);
    const out = join(dir, 'x');
    const v = await scan(join(dir, 'b.bundle'), { extractTo: out });
    expect(v.manifest.bundle_id).toBe(m.bundle_id);
    expect(v.signedBy).toEqual([k.key.key_id]);
    expect(statSync(join(out, 'lib/data.bin')).size).toBe(3 * 1024 * 1024 + 7);
    expect(statSync(join(out, 'run.sh')).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(out, 'lib/conf'))).toBe('../etc/app.conf');
  });

  it('extracts exactly, whatever the read size: many small files and large ones across read boundaries', async () => {
    const src = join(dir, 'many');
    mkdirSync(join(src, 'd'), { recursive: true });
    const expected = new Map<string, Buffer>();
    for (let i = 0; i < 150; i++) {
      const b = Buffer.alloc((i * 37) % 1500, i % 251);
      writeFileSync(join(src, 'd', `f${i}`), b);
      expected.set(`d/f${i}`, b);
    }
    const big = Buffer.alloc(2 * 1024 * 1024 + 333);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    writeFileSync(join(src, 'big'), big);
    expected.set('big', big);
    await buildBundle({ dir: src, kind: 'app', name: 'many', version: '1.0.0', key: k.key, out: join(dir, 'm.bundle'), clock: systemClock });
    for (const readChunk of [1000, 4096, 65_537, 1024 * 1024]) {
      const out = join(dir, `x-${readChunk}`);
      const v = await scan(join(dir, 'm.bundle'), { extractTo: out, readChunk });
      expect(v.fileCount).toBe(151);
      for (const [p, b] of expected) expect(readFileSync(join(out, p)).equals(b)).toBe(true);
    }
  });

  it('gives certificates strict permissions whatever the manifest says', async () => {
    const src = join(dir, 'certs');
    mkdirSync(join(src, 'ca'), { recursive: true });
    writeFileSync(join(src, 'ca/root.pem'), '-----BEGIN CERTIFICATE-----\n');
    await buildBundle({ dir: src, kind: 'certs', name: 'fleet-ca', version: '1.0.0', key: k.key, out: join(dir, 'c.bundle'), clock: systemClock });
    await scan(join(dir, 'c.bundle'), { extractTo: join(dir, 'cx'), strictModes: true });
    expect(statSync(join(dir, 'cx/ca/root.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'cx/ca')).mode & 0o777).toBe(0o700);
  });

  it('signature threshold: one signature does not meet a threshold of two', async () => {
    await buildApp(k, appDir(dir, 'demo', '1.0.0'), join(dir, 'b.bundle'), '1.0.0');
    const e = await rejection(scan(join(dir, 'b.bundle'), {}, { signatureThreshold: 2 }));
    expect(e.check).toBe('signature.threshold');
  });
});

describe('every rejection names its check', () => {
  const good = member('a.txt', 'hello');

  it('unknown key', async () => {
    const other = makeKey(join(dir, 'other'));
    await buildApp(other, appDir(dir, 'demo', '1.0.0'), join(dir, 'b.bundle'), '1.0.0');
    const e = await rejection(scan(join(dir, 'b.bundle')));
    expect([e.check, e.exitCode]).toEqual(['signature.unknown_key', 5]);
    expect(e.message).toContain(other.key.key_id);
  });
  it('tampered payload byte', async () => {
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry], [good.tar]);
    patchFile(join(dir, 'b.bundle'), 'hello', 'hellp');
    const e = await rejection(scan(join(dir, 'b.bundle')));
    expect(e.check).toBe('hash.sha256');
    expect(e.message).toContain('payload/a.txt');
  });
  it('tampered manifest', async () => {
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry], [good.tar]);
    patchFile(join(dir, 'b.bundle'), '"9.0.0"', '"9.0.1"');
    expect((await rejection(scan(join(dir, 'b.bundle')))).check).toBe('signature.invalid');
  });
  it('missing file', async () => {
    const b = member('b.txt', 'bee');
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry, b.entry], [good.tar]);
    const e = await rejection(scan(join(dir, 'b.bundle')));
    expect(e.check).toBe('file.missing');
    expect(e.message).toContain('payload/b.txt');
  });
  it('extra file', async () => {
    const b = member('b.txt', 'bee');
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry], [good.tar, b.tar]);
    expect((await rejection(scan(join(dir, 'b.bundle')))).check).toBe('file.extra');
  });
  it('../ path', async () => {
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry], [good.tar, { type: 'File', path: 'payload/../../evil', bytes: Buffer.from('x') }]);
    expect((await rejection(scan(join(dir, 'b.bundle')))).check).toBe('path.dotdot');
  });
  it('absolute path', async () => {
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry], [good.tar, { type: 'File', path: '/etc/evil', bytes: Buffer.from('x') }]);
    expect((await rejection(scan(join(dir, 'b.bundle')))).check).toBe('path.absolute');
  });
  it('symlink escaping the payload, in the manifest or only in the archive', async () => {
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry, { type: 'symlink', path: 'l', target: '../../etc/shadow' }], [good.tar]);
    expect((await rejection(scan(join(dir, 'b.bundle')))).check).toBe('path.symlink_escape');
    await craftBundle(k, join(dir, 'c.bundle'), [good.entry], [good.tar, { type: 'SymbolicLink', path: 'payload/l', linkpath: '/etc/shadow' }]);
    expect((await rejection(scan(join(dir, 'c.bundle')))).check).toBe('path.symlink_escape');
  });
  it('a member written through a symlink', async () => {
    const inner = member('d/x', 'x');
    await craftBundle(k, join(dir, 'b.bundle'), [{ type: 'symlink', path: 'd', target: '.' }, inner.entry], [{ type: 'SymbolicLink', path: 'payload/d', linkpath: '.' }, inner.tar]);
    expect((await rejection(scan(join(dir, 'b.bundle'), { extractTo: join(dir, 'x') }))).check).toBe('path.through_symlink');
  });
  it('hard link', async () => {
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry], [good.tar, { type: 'Link', path: 'payload/h', linkpath: 'payload/a.txt' }]);
    expect((await rejection(scan(join(dir, 'b.bundle')))).check).toBe('entry.hardlink');
  });
  it('device node', async () => {
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry], [good.tar, { type: 'CharacterDevice', path: 'payload/null', devmaj: 1, devmin: 3 }]);
    expect((await rejection(scan(join(dir, 'b.bundle')))).check).toBe('entry.device');
  });
  it('oversize: payload over the limit, and a member larger than the manifest says', async () => {
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry], [good.tar]);
    expect((await rejection(scan(join(dir, 'b.bundle'), {}, { maxBytes: 3 }))).check).toBe('limit.size');
    await craftBundle(k, join(dir, 'c.bundle'), [good.entry], [{ type: 'File', path: 'payload/a.txt', bytes: Buffer.from('hello, and much more') }]);
    expect((await rejection(scan(join(dir, 'c.bundle')))).check).toBe('hash.size');
  });
  it('too many files, too long a path', async () => {
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry], [good.tar]);
    expect((await rejection(scan(join(dir, 'b.bundle'), {}, { maxFiles: 0 }))).check).toBe('limit.files');
    expect((await rejection(scan(join(dir, 'b.bundle'), {}, { maxPathLength: 3 }))).check).toBe('limit.path');
  });
  it('expired', async () => {
    await buildApp(k, appDir(dir, 'demo', '1.0.0'), join(dir, 'b.bundle'), '1.0.0', { expiresInMs: -1000 });
    const e = await rejection(scan(join(dir, 'b.bundle')));
    expect([e.check, e.code]).toEqual(['expired', 'WAVEOS_E_BUNDLE_EXPIRED']);
  });
  it('duplicate member, and a payload member before the manifest', async () => {
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry], [good.tar, good.tar]);
    expect((await rejection(scan(join(dir, 'b.bundle')))).check).toBe('entry.duplicate');
    const { writeTar } = await import('./index.js');
    await writeTar(join(dir, 'c.bundle'), [good.tar]);
    expect((await rejection(scan(join(dir, 'c.bundle')))).check).toBe('format.order');
  });
  it('not a tar at all', async () => {
    writeFileSync(join(dir, 'b.bundle'), 'this is not an archive'.repeat(100));
    expect((await rejection(scan(join(dir, 'b.bundle')))).code).toBe('WAVEOS_E_BUNDLE_FORMAT');
  });
  it('an extraction that fails leaves no file written through a planted link', async () => {
    await craftBundle(k, join(dir, 'b.bundle'), [good.entry], [good.tar, { type: 'Link', path: 'payload/h', linkpath: 'payload/a.txt' }]);
    await rejection(scan(join(dir, 'b.bundle'), { extractTo: join(dir, 'x') }));
    expect(existsSync(join(dir, 'x/h'))).toBe(false);
    expect(readFileSync(join(dir, 'x/a.txt'), 'utf8')).toBe('hello');
  });
});

describe('fault hook', () => {
  it('is inert unless WAVEOS_FAULT is set', () => {
    expect(faultHook({})).toBeUndefined();
    const fired: string[] = [];
    const hook = faultHook({ WAVEOS_FAULT: 'bundle.after:staged' }, (p) => fired.push(p));
    hook?.('bundle.after:verified');
    expect(fired).toEqual([]);
  });
});
