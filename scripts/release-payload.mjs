// What of the build goes into a release tree (scripts/release.mjs): the program, its production
// dependencies with native modules built for the target, and the packaged Node runtime.
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { NODE_RUNTIME_VERSION, PREFIX, ARCHES, productionLock, repo, run } from './release-lib.mjs';

/**
 * THE PAYLOAD SOURCE: the one place that says which build output a release carries.
 * - `tsc` (today): tsc's dist/ (no tests, no source maps), bin/, and every production dependency.
 * - `bundle` (once `npm run build` writes dist/bundle/waveos.mjs): dist/bundle/, bin/, and only the modules the
 *   bundle keeps external (the native ones and what they load), as the bundling work leaves natives external.
 * Switching is automatic: the bundle is used as soon as it exists.
 */
export function payloadSource() {
  if (existsSync(join(repo, 'dist/bundle/waveos.mjs'))) {
    return { kind: 'bundle', copy: [['dist/bundle', 'dist/bundle'], ['dist/build-info.json', 'dist/build-info.json'], ['bin', 'bin']], modules: 'natives' };
  }
  return { kind: 'tsc', copy: [['dist', 'dist'], ['bin', 'bin']], modules: 'production' };
}

const skipInDist = (src) => !/\.(map|d\.ts)$/.test(src) && !/\.test\.js$/.test(src) && !src.endsWith('/sbom.cdx.json');

/** The lock paths of the modules a payload carries: all production ones, or the natives and their closure. */
function modulePaths(natives, which) {
  const lock = productionLock();
  if (which === 'production') return [...lock.keys()];
  const out = new Set();
  const visit = (name) => {
    const p = `node_modules/${name}`;
    if (out.has(p) || !lock.has(p)) return;
    out.add(p);
    for (const d of Object.keys(lock.get(p).dependencies ?? {})) visit(d);
  };
  for (const n of Object.keys(natives)) visit(n);
  return [...out];
}

/** Copies the production modules into `app`/node_modules; native ones get their target build, not their sources. */
function copyModules(app, natives, which) {
  const lock = productionLock();
  const paths = modulePaths(natives, which);
  for (const p of paths) {
    const name = p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const native = p === `node_modules/${name}` ? natives[name] : undefined;
    const skip = native ? ['build', 'deps', 'src', 'test', 'binding.gyp'] : [];
    const src = join(repo, p);
    cpSync(src, join(app, p), {
      recursive: true,
      dereference: true,
      // Nested node_modules are entries of their own in the lock; native sources stay out.
      // Dotfiles (.npmignore, .eslintrc, .gitattributes, .github/) are the package's development, not its runtime.
      filter: (s) => s === src || !(s.startsWith(`${src}/node_modules`) || skip.some((k) => s === `${src}/${k}`) || basename(s).startsWith('.')),
    });
    if (native) for (const f of native.files) cpSync(join(native.dir, f), join(app, p, f));
    if (!lock.get(p)) throw new Error(`${p} is not in package-lock.json`);
  }
  return paths;
}

/** The package.json the tree carries: what Node needs to load it (type: module) and who it is; no scripts. */
function runtimePackageJson() {
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  const keep = { name: pkg.name, version: pkg.version, description: pkg.description, type: pkg.type, private: true, license: pkg.license, engines: pkg.engines, bin: pkg.bin, dependencies: pkg.dependencies };
  return `${JSON.stringify(keep, null, 2)}\n`;
}

/**
 * Lays out the installed tree under `root` (the same for the .deb and the tarball):
 * usr/lib/waveos/{bin,dist,node_modules,runtime,docs,systemd,policies}, /usr/bin/waveos, the unit and its companions,
 * the default config. Returns what the SBOM needs to know.
 */
export function stageTree(root, arch, runtime, natives) {
  const a = ARCHES[arch];
  const source = payloadSource();
  const app = join(root, PREFIX);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  for (const [from, to] of source.copy) cpSync(join(repo, from), join(app, to), { recursive: true, dereference: true, filter: skipInDist });
  for (const d of ['docs', 'systemd', 'policies']) if (existsSync(join(repo, d))) cpSync(join(repo, d), join(app, d), { recursive: true });
  for (const f of ['README.md', 'CHANGELOG.md']) cpSync(join(repo, f), join(app, f));
  writeFileSync(join(app, 'package.json'), runtimePackageJson());
  const modules = copyModules(app, natives, source.modules);
  // The runtime: the registry's official binary without its static symbol table (the dynamic one that addons
  // link against stays): 120 MB -> 103 MB.
  mkdirSync(join(app, 'runtime/bin'), { recursive: true });
  cpSync(join(runtime.dir, 'bin/node'), join(app, 'runtime/bin/node'));
  cpSync(join(runtime.dir, 'LICENSE'), join(app, 'runtime/LICENSE'));
  run(a.tools.STRIP, ['--strip-all', join(app, 'runtime/bin/node')]);
  for (const [n, m] of Object.entries(natives)) for (const f of m.files) run(a.tools.STRIP, ['--strip-unneeded', join(app, 'node_modules', n, f)]);
  chmodSync(join(app, 'runtime/bin/node'), 0o755);
  installSystemFiles(root);
  return { source: source.kind, modules, node: NODE_RUNTIME_VERSION };
}

/** /usr/bin/waveos, the unit, sysusers.d, tmpfiles.d, the polkit rule, completions, the default config. */
function installSystemFiles(root) {
  const put = (from, to, mode = 0o644) => {
    mkdirSync(join(root, to, '..'), { recursive: true });
    cpSync(from, join(root, to));
    chmodSync(join(root, to), mode);
  };
  put(join(repo, 'packaging/bin/waveos'), 'usr/bin/waveos', 0o755);
  const unit = readFileSync(join(repo, 'systemd/waveos.service'), 'utf8').replaceAll('/opt/waveos/', `/${PREFIX}/`);
  mkdirSync(join(root, 'lib/systemd/system'), { recursive: true });
  writeFileSync(join(root, 'lib/systemd/system/waveos.service'), unit);
  put(join(repo, 'systemd/waveos.sysusers'), 'usr/lib/sysusers.d/waveos.conf');
  put(join(repo, 'systemd/waveos.tmpfiles'), 'usr/lib/tmpfiles.d/waveos.conf');
  put(join(repo, 'systemd/50-waveos-reboot.rules'), 'usr/share/polkit-1/rules.d/50-waveos-reboot.rules');
  // Completions come from the command's own usage text, the same on every architecture: made with the build machine's Node.
  for (const [shell, to] of [['bash', 'usr/share/bash-completion/completions/waveos'], ['zsh', 'usr/share/zsh/vendor-completions/_waveos']]) {
    mkdirSync(join(root, to, '..'), { recursive: true });
    writeFileSync(join(root, to), run(process.execPath, [join(repo, 'bin/waveos.js'), 'completion', shell], { capture: true }));
  }
  for (const d of ['etc/waveos/policies.d', 'etc/waveos/keys']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/waveos/waveos.yaml'), readFileSync(join(repo, 'packaging/waveos.yaml'), 'utf8'));
  put(join(repo, 'packaging/debian/copyright'), 'usr/share/doc/waveos/copyright');
}
