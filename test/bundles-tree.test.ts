import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BundleRejection,
  type BundleLimits,
  DEFAULT_LIMITS,
  type FileEntry,
  type Manifest,
  type TarEntry,
  checkExtractedTree,
  loadTrustedKeys,
  resolveInTree,
  scanBundle,
  validateContent,
} from '../daemon/bundles/index.js';
import { type TestKey, appDir, buildApp, craftBundle, craftTree, folder, link, makeKey, member } from './helpers/bundles.js';

let dir: string;
let k: TestKey;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bundles-tree-'));
  k = makeKey(join(dir, 'keys'));
  // A decoy where escaping links would land: outside every payload, as /etc/passwd is outside a slot.
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const scan = (file: string, extractTo?: string, limits: Partial<BundleLimits> = {}) =>
  scanBundle({ file, keys: loadTrustedKeys(join(dir, 'keys')), limits: { ...DEFAULT_LIMITS, ...limits }, now: new Date(), extractTo });

async function verdict(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (e) {
    if (e instanceof BundleRejection) return e.check;
    throw e;
  }
}

/** Every path in a tree, links included (not followed). */
function allPaths(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(rel ? join(root, rel) : root)) {
    const r = rel ? `${rel}/${name}` : name;
    out.push(r);
    if (lstatSync(join(root, r)).isDirectory()) out.push(...allPaths(root, r));
  }
  return out;
}

/** Does every path of the tree resolve, on the real filesystem, to something that exists inside it? */
function allInside(root: string): boolean {
  const top = realpathSync(root);
  return allPaths(root).every((p) => {
    try {
      const real = realpathSync(join(root, p));
      return real === top || real.startsWith(top + sep);
    } catch {
      return false;
    }
  });
}

// --- generated link graphs -------------------------------------------------------------------------

const DIRS = ['a', 'a/b', 'a/b/c', 'd'];
const FILES = ['f', 'a/b/g'];
const LINK_NAMES = ['l0', 'l1', 'l2', 'l3', 'l4', 'l5'];
const component = fc.constantFrom('..', '..', '..', '.', 'a', 'b', 'c', 'd', 'f', 'g', 'etc', 'passwd', ...LINK_NAMES);
/** A target: relative chains of `..`, names and other links, sometimes absolute; often one that works. */
const target = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.boolean(), fc.array(component, { minLength: 1, maxLength: 7 }), fc.nat(9)).map(([slash, parts, r]) => (slash && r === 0 ? `/${parts.join('/')}` : parts.join('/'))) },
  { weight: 2, arbitrary: fc.constantFrom('f', '../f', '../../f', 'b/g', 'a/b/g', '../g', 'c/..', '.', '..', 'l0', 'l1', '../l2', 'a/l3', '../../etc/passwd', 'l0/../f') },
);
/** Links at any folder of the tree (so links to links, loops and `..` after a link all come up). */
const linkGraph = fc.uniqueArray(fc.tuple(fc.constantFrom('', ...DIRS), fc.constantFrom(...LINK_NAMES), target), { minLength: 1, maxLength: 4, selector: ([d, name]) => `${d}/${name}` });

function members(links: [string, string, string][]): { entry: FileEntry; tar: TarEntry }[] {
  return [
    ...DIRS.map((d) => folder(d)),
    ...FILES.map((f) => member(f, `content of ${f}\n`)),
    ...links.map(([d, name, t]) => link(d ? `${d}/${name}` : name, t)),
  ];
}

describe('link graphs (property): no accepted bundle has a path that resolves outside its slot', () => {
  it('through the scan, extracted on the real filesystem', async () => {
    const seen = { accepted: 0, rejected: 0 };
    await fc.assert(
      fc.asyncProperty(linkGraph, async (links) => {
        const i = n++;
        const file = join(dir, `g${i}.bundle`);
        await craftTree(k, file, members(links));
        const payload = join(dir, `slot${i}`, 'payload');
        const v = await verdict(scan(file, payload));
        if (v !== 'accepted') {
          seen.rejected++;
          expect(v).toBe('path.symlink_escape');
          return;
        }
        seen.accepted++;
        expect(allInside(payload)).toBe(true);
      }),
      { numRuns: 150 },
    );
    // Not vacuous: both verdicts came up.
    expect(seen.accepted).toBeGreaterThan(0);
    expect(seen.rejected).toBeGreaterThan(0);
  }, 120_000);

  it('the real-filesystem check alone is sound, and agrees with the resolution through the manifest', () => {
    fc.assert(
      fc.property(linkGraph, (links) => {
        const root = join(dir, `fs${n++}`, 'payload');
        const entries = new Map<string, FileEntry>();
        for (const m of members(links)) entries.set(m.entry.path, m.entry);
        for (const d of DIRS) mkdirSync(join(root, d), { recursive: true });
        for (const f of FILES) writeFileSync(join(root, f), 'x');
        for (const [d, name, t] of links) symlinkSync(t, join(root, d, name));
        let fsOk = true;
        try {
          checkExtractedTree(root, entries);
        } catch (e) {
          if (!(e instanceof BundleRejection)) throw e;
          fsOk = false;
        }
        if (fsOk) expect(allInside(root)).toBe(true);
        const modelOk = [...entries.values()].every((e) => e.type !== 'symlink' || resolveInTree(entries, e.path).ok);
        // The manifest's resolution is at least as strict: what it accepts, the filesystem accepts too.
        if (modelOk) expect(fsOk).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('the chain d0/…/d29/s → ../… then passwd → d0/…/s/../../etc/passwd is refused (verify and on disk)', async () => {
    const depth = 30;
    const dirs = Array.from({ length: depth }, (_, i) => Array.from({ length: i + 1 }, (__, j) => `d${j}`).join('/'));
    const deep = dirs.at(-1) as string;
    const up = '../'.repeat(depth);
    const passwd = `${deep}/s/${'../'.repeat(depth - 1)}etc/passwd`;
    const file = join(dir, 'chain.bundle');
    await craftTree(k, file, [...dirs.map((d) => folder(d)), link(`${deep}/s`, up), link('passwd', passwd), member('a.txt', 'a')]);
    const e = await scan(file).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BundleRejection);
    expect((e as BundleRejection).check).toBe('path.symlink_escape');
    expect((e as BundleRejection).message).toContain('payload/passwd');
    // The same tree made on disk directly: the filesystem check refuses it on its own.
    const root = join(dir, 'chain-fs', 'payload');
    mkdirSync(join(root, deep), { recursive: true });
    symlinkSync(up, join(root, deep, 's'));
    symlinkSync(passwd, join(root, 'passwd'));
    writeFileSync(join(root, 'a.txt'), 'a');
    const entries = new Map<string, FileEntry>([...dirs.map((d): [string, FileEntry] => [d, { type: 'dir', path: d, mode: 0o755 }]), [`${deep}/s`, { type: 'symlink', path: `${deep}/s`, target: up }], ['passwd', { type: 'symlink', path: 'passwd', target: passwd }], ['a.txt', { type: 'file', path: 'a.txt', size: 1, mode: 0o644, sha256: '0'.repeat(64) }]]);
    expect(() => checkExtractedTree(root, entries)).toThrow(/resolves on the filesystem to .*outside the payload|dangling|does not resolve/);
  });
});

// --- the tree equals the manifest ----------------------------------------------------------------

describe('the archive holds exactly what the manifest lists (table)', () => {
  const f = member('f.txt', 'hello');
  const sub = folder('sub');
  const cases: { name: string; check: string; make: (file: string) => Promise<unknown>; limits?: Partial<BundleLimits> }[] = [
    { name: 'an extra folder', check: 'file.extra', make: (o) => craftBundle(k, o, [f.entry], [f.tar, sub.tar], { schema_version: 2 }) },
    { name: 'an extra file', check: 'file.extra', make: (o) => craftBundle(k, o, [f.entry], [f.tar, member('g.txt', 'g').tar], { schema_version: 2 }) },
    { name: 'a listed folder missing', check: 'file.missing', make: (o) => craftBundle(k, o, [f.entry, sub.entry], [f.tar], { schema_version: 2 }) },
    { name: 'a file mode change', check: 'entry.mode', make: (o) => craftBundle(k, o, [f.entry], [{ ...f.tar, mode: 0o4755 } as TarEntry], { schema_version: 2 }) },
    { name: 'a folder mode change', check: 'entry.mode', make: (o) => craftBundle(k, o, [f.entry, sub.entry], [f.tar, folder('sub', 0o777).tar], { schema_version: 2 }) },
    { name: 'a folder listed, a file shipped', check: 'entry.type', make: (o) => craftBundle(k, o, [f.entry, sub.entry], [f.tar, member('sub', 'x', 0o755).tar], { schema_version: 2 }) },
    { name: 'a file listed, a folder shipped', check: 'entry.type', make: (o) => craftBundle(k, o, [f.entry], [folder('f.txt', 0o644).tar], { schema_version: 2 }) },
    { name: 'a symlink listed, a file shipped', check: 'entry.type', make: (o) => craftBundle(k, o, [f.entry, link('l', 'f.txt').entry], [f.tar, member('l', 'x').tar], { schema_version: 2 }) },
    { name: 'a hard link', check: 'entry.hardlink', make: (o) => craftBundle(k, o, [f.entry], [f.tar, { type: 'Link', path: 'payload/h', linkpath: 'payload/f.txt' }], { schema_version: 2 }) },
    { name: 'a fifo', check: 'entry.device', make: (o) => craftBundle(k, o, [f.entry], [f.tar, { type: 'FIFO', path: 'payload/p' }], { schema_version: 2 }) },
    { name: 'a character device', check: 'entry.device', make: (o) => craftBundle(k, o, [f.entry], [f.tar, { type: 'CharacterDevice', path: 'payload/null', devmaj: 1, devmin: 3 }], { schema_version: 2 }) },
    { name: 'a folder not listed as the parent of a listed file', check: 'manifest.parent', make: (o) => craftTree(k, o, [member('sub/x', 'x')]) },
    { name: 'a folder member in a schema-1 bundle', check: 'file.extra', make: (o) => craftBundle(k, o, [f.entry], [f.tar, sub.tar]) },
    {
      name: '3,000 unlisted folders beside one listed file',
      check: 'file.extra',
      make: (o) => craftBundle(k, o, [f.entry], [f.tar, ...Array.from({ length: 3000 }, (_, i) => folder(`d${i}`).tar)], { schema_version: 2 }),
    },
    {
      name: '3,000 listed folders over max_files 1000',
      check: 'limit.files',
      limits: { maxFiles: 1000 },
      make: (o) => craftTree(k, o, [f, ...Array.from({ length: 3000 }, (_, i) => folder(`d${i}`))]),
    },
    {
      name: 'a gzip-compressed bundle',
      check: 'format.compressed',
      make: async (o) => {
        await craftTree(k, `${o}.tar`, [f]);
        writeFileSync(o, gzipSync(readFileSync(`${o}.tar`)));
      },
    },
  ];
  it.each(cases)('$name → $check', async (c) => {
    const file = join(dir, `t${n++}.bundle`);
    await c.make(file);
    const out = join(dir, `t${n++}`, 'payload');
    expect(await verdict(scan(file, undefined, c.limits))).toBe(c.check);
    expect(await verdict(scan(file, out, c.limits))).toBe(c.check);
  });

  it('the same members, listed exactly, are accepted and extracted with their modes', async () => {
    const file = join(dir, 'exact.bundle');
    await craftTree(k, file, [folder('sub', 0o750), member('sub/x', 'x', 0o640), member('f.txt', 'hello'), link('l', 'sub/x')]);
    const out = join(dir, 'exact', 'payload');
    expect(await verdict(scan(file, out))).toBe('accepted');
    expect(lstatSync(join(out, 'sub')).mode & 0o777).toBe(0o750);
    expect(readFileSync(join(out, 'l'), 'utf8')).toBe('x');
  });

  it('a file planted in the extracted tree that the archive did not carry is found by the filesystem check', () => {
    const root = join(dir, 'planted', 'payload');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'f.txt'), 'hello');
    execFileSync('mkfifo', [join(root, 'p')]);
    const entries = new Map<string, FileEntry>([['f.txt', { type: 'file', path: 'f.txt', size: 5, mode: 0o644, sha256: '0'.repeat(64) }]]);
    expect(() => checkExtractedTree(root, entries)).toThrow(/payload\/p is in the extracted tree but not in the manifest/);
  });

  it('bundle build lists every folder, so what it builds verifies', async () => {
    const src = appDir(dir, 'built', '1.0.0');
    mkdirSync(join(src, 'lib/deep'), { recursive: true });
    chmodSync(join(src, 'lib'), 0o750);
    const m = await buildApp(k, src, join(dir, 'built.bundle'), '1.0.0');
    expect(m.files.filter((e) => e.type === 'dir').map((e) => e.path).sort()).toEqual(['etc', 'lib', 'lib/deep']);
    expect(await verdict(scan(join(dir, 'built.bundle'), join(dir, 'built-out', 'payload')))).toBe('accepted');
    expect(lstatSync(join(dir, 'built-out/payload/lib')).mode & 0o777).toBe(0o750);
  });
});

// --- per-kind content, and keys ---------------------------------------------------------------------

function payloadOf(files: Record<string, string>): { root: string; manifest: (kind: Manifest['kind'], over?: Partial<Manifest>) => Manifest } {
  const root = join(dir, `c${n++}`);
  mkdirSync(root);
  const entries: FileEntry[] = Object.entries(files).map(([p, text]) => {
    writeFileSync(join(root, p), text);
    return member(p, text).entry;
  });
  return {
    root,
    manifest: (kind, over = {}) => ({ schema_version: 2, bundle_id: '0'.repeat(64), kind, name: 'x', version: '1.0.0', created_at: new Date().toISOString(), key_id: k.key.key_id, files: entries, ...over }),
  };
}

function contentCheck(m: Manifest, root: string): string {
  try {
    validateContent(m, root);
    return 'accepted';
  } catch (e) {
    if (e instanceof BundleRejection) return `${e.check}: ${e.message}`;
    throw e;
  }
}

describe('per-kind content', () => {
  const rule = (kind: string): string => `policy_version: "1"\nrules:\n  - id: r1\n    kind: ${kind}\n    metric: filesystem_used_ratio\n    op: ">"\n    value: 0.9\n    actions:\n      - { type: emit_event, severity: warning, kind: policy.x, message: m }\n`;
  it('a policy bundle is validated as policies are, with the file and line in the reason', () => {
    const ok = payloadOf({ 'rules.yaml': rule('threshold') });
    expect(contentCheck(ok.manifest('policy'), ok.root)).toBe('accepted');
    const bad = payloadOf({ 'rules.yaml': rule('nonsense') });
    expect(contentCheck(bad.manifest('policy'), bad.root)).toMatch(/^content\.policy: payload\/rules\.yaml is not a valid policy: payload\/rules\.yaml:4:/);
  });
  it('a policy bundle carrying waveos.yaml, or any file that is not a policy, is refused', () => {
    const cfg = payloadOf({ 'rules.yaml': rule('threshold'), 'waveos.yaml': 'schema_version: 2\n' });
    expect(contentCheck(cfg.manifest('policy'), cfg.root)).toMatch(/^content\.policy: payload\/waveos\.yaml is a WaveOS config file/);
    const sh = payloadOf({ 'run.sh': '#!/bin/sh\n' });
    expect(contentCheck(sh.manifest('policy'), sh.root)).toMatch(/^content\.policy: payload\/run\.sh \(file\) is not a policy file/);
  });
  it('policy files of one bundle must go together (one mode graph, unique rule ids)', () => {
    const modes = 'policy_version: "1"\nmodes:\n  normal: { transitions: [degraded, safe] }\n  degraded: { transitions: [normal, safe] }\n  safe: { transitions: [normal] }\nrules: []\n';
    const two = payloadOf({ 'a.yaml': modes, 'b.yaml': modes });
    expect(contentCheck(two.manifest('policy'), two.root)).toMatch(/^content\.policy: the policy files of the bundle do not go together: payload\/b\.yaml/);
  });
  it('policy files must go together with the policy in force beside them, unless that is broken on its own', () => {
    const modes = 'policy_version: "1"\nmodes:\n  normal: { transitions: [degraded, safe] }\n  degraded: { transitions: [normal, safe] }\n  safe: { transitions: [normal] }\nrules: []\n';
    const local = payloadOf({ 'site-modes.yaml': modes });
    const bundle = payloadOf({ 'fleet-modes.yaml': modes });
    const check = (beside: string[]): string => {
      try {
        validateContent(bundle.manifest('policy'), bundle.root, beside);
        return 'accepted';
      } catch (e) {
        if (e instanceof BundleRejection) return `${e.check}: ${e.message}`;
        throw e;
      }
    };
    expect(check([local.root])).toMatch(/^content\.policy: the bundle's policy files conflict with the policy in force beside them: .*modes are already defined/);
    // The same name replaces the local file (as the runtime merges), so no conflict.
    const same = payloadOf({ 'fleet-modes.yaml': modes });
    expect(check([same.root])).toBe('accepted');
    // A broken local file is the runtime's to report; it does not block the bundle.
    const broken = payloadOf({ 'site-modes.yaml': modes, 'broken.yaml': 'rules: [' });
    expect(check([broken.root])).toBe('accepted');
  });
  it('a config bundle is validated as config is, and carries waveos.yaml only', () => {
    const bad = payloadOf({ 'waveos.yaml': 'schema_version: 2\ndevice:\n  colour: blue\n' });
    expect(contentCheck(bad.manifest('config'), bad.root)).toMatch(/^content\.config: payload\/waveos\.yaml fails the config schema: payload\/waveos\.yaml:3:/);
    const extra = payloadOf({ 'waveos.yaml': 'schema_version: 2\n', 'other.txt': 'x' });
    expect(contentCheck(extra.manifest('config'), extra.root)).toMatch(/^content\.config: payload\/other\.txt is not part of a config bundle/);
  });
  it('a certs bundle holds PEM files only', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const ok = payloadOf({ 'ca.pem': `${pem}\n${pem}` });
    expect(contentCheck(ok.manifest('certs'), ok.root)).toBe('accepted');
    const bad = payloadOf({ 'ca.pem': `${pem}trailing garbage\n` });
    expect(contentCheck(bad.manifest('certs'), bad.root)).toMatch(/^content\.certs: payload\/ca\.pem is not PEM/);
    const mismatched = payloadOf({ 'k.pem': '-----BEGIN PRIVATE KEY-----\nAA\n-----END CERTIFICATE-----\n' });
    expect(contentCheck(mismatched.manifest('certs'), mismatched.root)).toMatch(/^content\.certs:/);
  });
  it("an app's run program must be an executable file of the payload; app is for app bundles only", () => {
    const p = payloadOf({ 'run.sh': '#!/bin/sh\n' });
    expect(contentCheck(p.manifest('app', { app: { run: ['./run.sh'] } }), p.root)).toMatch(/^content\.app: app\.run names \.\/run\.sh, which is not executable/);
    expect(contentCheck(p.manifest('app', { app: { run: ['./missing.sh'] } }), p.root)).toMatch(/^content\.app: app\.run names \.\/missing\.sh, which is not a regular file/);
    expect(contentCheck(p.manifest('app', { app: { run: ['sleep', '5'] } }), p.root)).toBe('accepted');
    expect(contentCheck(p.manifest('policy', { app: { run: ['sleep'] } }), p.root)).toMatch(/^content\.app: a policy bundle cannot declare app/);
  });
});

describe('trusted keys', () => {
  it('an unparsable *.pub is skipped and said; the other keys still count', async () => {
    const keys = join(dir, 'keyring');
    mkdirSync(keys);
    writeFileSync(join(keys, `${k.key.key_id}.pub`), readFileSync(k.pubFile));
    writeFileSync(join(keys, 'broken.pub'), '{ not json');
    writeFileSync(join(keys, 'wrong.pub'), JSON.stringify({ key_id: '0123456789abcdef', algorithm: 'ed25519', public_key: 'AAAA' }));
    const skipped: string[] = [];
    const got = loadTrustedKeys(keys, (file, why) => skipped.push(`${file.slice(keys.length + 1)}: ${why}`));
    expect(got.map((t) => t.key_id)).toEqual([k.key.key_id]);
    expect(skipped).toHaveLength(2);
    expect(skipped[0]).toMatch(/^broken\.pub: .*not a WaveOS key file/);
    expect(skipped[1]).toMatch(/^wrong\.pub: .*public_key is not a 32-byte ed25519 key/);
  });
});
