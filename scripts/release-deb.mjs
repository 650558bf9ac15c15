// The two archive forms of one release tree (scripts/release.mjs): the Debian package and the plain tarball.
import { chmodSync, cpSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ARCHES, NODE_RUNTIME_VERSION, PREFIX, repo, run } from './release-lib.mjs';

/** Every regular file under `dir`, relative, sorted. */
function files(dir, rel = '') {
  const out = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, r));
    if (st.isDirectory()) out.push(...files(dir, r));
    else if (st.isFile()) out.push(r);
  }
  return out;
}

/**
 * Modes a package expects: directories 0755, executables 0755, everything else 0644 (a build umask must not leak in).
 * Nothing under the program's bin/ and node_modules/ is run as a command (/usr/bin/waveos hands bin/waveos.js to the
 * packaged node; addons are loaded, not executed), so those files are 0644: no `#!/usr/bin/env node` there can
 * pick up the distribution's Node.
 */
function normaliseModes(dir, rel = '') {
  for (const name of readdirSync(join(dir, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    const p = join(dir, r);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) {
      chmodSync(p, 0o755);
      normaliseModes(dir, r);
    } else {
      const plain = r.startsWith(`${PREFIX}/node_modules/`) || r.startsWith(`${PREFIX}/bin/`) || r.endsWith('.node');
      chmodSync(p, st.mode & 0o111 && !plain ? 0o755 : 0o644);
    }
  }
}

/** SOURCE_DATE_EPOCH (reproducible builds) or the last commit's time. */
function epoch() {
  if (process.env.SOURCE_DATE_EPOCH) return process.env.SOURCE_DATE_EPOCH;
  try {
    return run('git', ['-C', repo, 'log', '-1', '--format=%ct'], { capture: true }).trim();
  } catch {
    return '0';
  }
}

/**
 * The bundle's source maps, apart from the packages (which do not carry them): a board's stack traces name
 * minified chunks, and scripts/symbolize.mjs maps them back with these. Architecture-independent.
 */
export function buildSourceMaps(bundleDir, out) {
  const maps = readdirSync(bundleDir).filter((f) => f.endsWith('.map')).sort();
  if (maps.length === 0) throw new Error(`no source maps in ${bundleDir}`);
  run('tar', ['--sort=name', `--mtime=@${epoch()}`, '--owner=0', '--group=0', '--numeric-owner', '-czf', out, '-C', bundleDir, ...maps]);
}

/** The plain tarball: the same tree as the .deb, to unpack at the root of an image (Yocto, Buildroot). */
export function buildTarball(root, out) {
  normaliseModes(root);
  run('tar', ['--sort=name', `--mtime=@${epoch()}`, '--owner=0', '--group=0', '--numeric-owner', '-czf', out, '-C', root, '.']);
}

function control(arch, version, installedKb) {
  return [
    'Package: waveos',
    `Version: ${version}`,
    `Architecture: ${ARCHES[arch].deb}`,
    'Maintainer: WaveOS maintainers <maintainers@waveos.invalid>',
    `Installed-Size: ${installedKb}`,
    // The official Node binaries need glibc >= 2.28 and libstdc++ from GCC >= 10 (Debian 11 and later).
    'Depends: libc6 (>= 2.28), libstdc++6 (>= 10), libgcc-s1, passwd, init-system-helpers (>= 1.54)',
    'Recommends: systemd, polkitd | policykit-1',
    'Section: admin',
    'Priority: optional',
    'Description: overlay control plane for embedded Linux fleets',
    ' WaveOS is a crash-only supervisor for embedded Linux boards: it runs',
    " the board's services, records every run in a hash-chained journal,",
    ' applies policies and installs signed bundles. The package carries its',
    ` own Node.js runtime (${NODE_RUNTIME_VERSION}) and native modules built for this`,
    " architecture, so the distribution's Node does not matter.",
    '',
  ].join('\n');
}

/** Debian's changelog for the package (lintian wants one; a version without a Debian revision is a native package's, changelog.gz). */
function debianChangelog(version) {
  const date = new Date(Number(epoch()) * 1000).toUTCString().replace('GMT', '+0000');
  return `waveos (${version}) stable; urgency=medium\n\n  * Release ${version}; see /usr/lib/waveos/CHANGELOG.md.\n\n -- WaveOS maintainers <maintainers@waveos.invalid>  ${date}\n`;
}

/** `waveos_<version>_<debarch>.deb` from the tree: control, conffiles, md5sums, maintainer scripts; dpkg-deb builds it. */
export function buildDeb(root, arch, version, out) {
  const pkg = `${root}.deb-tree`;
  rmSync(pkg, { recursive: true, force: true });
  cpSync(root, pkg, { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(pkg, 'usr/share/doc/waveos'), { recursive: true });
  writeFileSync(join(pkg, 'usr/share/doc/waveos/changelog.gz'), gzipSync(debianChangelog(version), { level: 9 }));
  mkdirSync(join(pkg, 'usr/share/lintian/overrides'), { recursive: true });
  cpSync(join(repo, 'packaging/debian/lintian-overrides'), join(pkg, 'usr/share/lintian/overrides/waveos'));
  normaliseModes(pkg);
  const kb = Number(run('du', ['-sk', '--apparent-size', pkg], { capture: true }).split('\t')[0]);
  const meta = join(pkg, 'DEBIAN');
  mkdirSync(meta);
  writeFileSync(join(meta, 'control'), control(arch, version, kb));
  const conffiles = files(pkg).filter((f) => f.startsWith('etc/') && lstatSync(join(pkg, f)).isFile()).map((f) => `/${f}`);
  writeFileSync(join(meta, 'conffiles'), `${conffiles.join('\n')}\n`);
  const sums = files(pkg).filter((f) => !f.startsWith('DEBIAN/')).map((f) => `${createHash('md5').update(readFileSync(join(pkg, f))).digest('hex')}  ${f}`);
  writeFileSync(join(meta, 'md5sums'), `${sums.join('\n')}\n`);
  for (const s of ['postinst', 'prerm', 'postrm']) {
    cpSync(join(repo, 'packaging/debian', s), join(meta, s));
    chmodSync(join(meta, s), 0o755);
  }
  for (const f of ['control', 'conffiles', 'md5sums']) chmodSync(join(meta, f), 0o644);
  // xz for a release (a third smaller than gzip, about 2 min per architecture on 2 cores); gzip where speed matters (tests).
  const z = process.env.WAVEOS_RELEASE_DEB_COMPRESSION === 'gzip' ? ['-Zgzip', '-z6'] : ['-Zxz', '-z6'];
  run('dpkg-deb', ['--root-owner-group', ...z, '--build', pkg, out], { env: { ...process.env, SOURCE_DATE_EPOCH: epoch() } });
  rmSync(pkg, { recursive: true, force: true });
}
