#!/usr/bin/env node
// npm run release: self-contained WaveOS releases, one per architecture (docs/release.md).
//   node scripts/release.mjs [--arch arm64|x86-64|all] [--out DIR] [--no-deb]
// Per architecture, into DIR (default .release/<version>/): waveos_<v>_<arch>.deb, waveos_<v>_<arch>.tar.gz (the same
// tree), waveos_<v>_<arch>.cdx.json (CycloneDX SBOM), waveos_<v>_<arch>.wbundle (the `kind: waveos` self-update bundle
// made from the same tree); once: RELEASE-NOTES.md (from CHANGELOG.md), the release public key (.pub, .pem),
// SHA256SUMS and SHA256SUMS.sig, release.json (sizes and build times), and waveos_<v>_sourcemaps.tar.gz when the
// payload is the (minified) bundle, for scripts/symbolize.mjs.
// Signing key: WAVEOS_RELEASE_KEY=FILE (a `waveos bundle keygen` key); without it a dev key. Cache: WAVEOS_RELEASE_CACHE.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { buildDeb, buildSourceMaps, buildTarball } from './release-deb.mjs';
import { ARCHES, NODE_RUNTIME_VERSION, PREFIX, buildNatives, fail, nodeRuntime, repo, run, say } from './release-lib.mjs';
import { stageTree } from './release-payload.mjs';
import { makeSbom } from './release-sbom.mjs';
import { releaseKey, signSums, writePublicKey } from './release-sign.mjs';

/** The notes of `version` from CHANGELOG.md (Keep a Changelog: `## [version] - date`), or a located error. */
export function releaseNotes(changelog, version) {
  const text = readFileSync(changelog, 'utf8');
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`## [${version}]`));
  if (start < 0) throw new Error(`${changelog}: no "## [${version}] - YYYY-MM-DD" section for the version in package.json; add one (Keep a Changelog form) before cutting ${version}`);
  if (!/^## \[[^\]]+\] - \d{4}-\d{2}-\d{2}$/.test(lines[start])) throw new Error(`${changelog}:${start + 1}: expected "## [${version}] - YYYY-MM-DD", found "${lines[start]}"`);
  let end = lines.findIndex((l, i) => i > start && /^## \[/.test(l));
  if (end < 0) end = lines.length;
  while (end > start && /^\[[^\]]+\]: /.test(lines[end - 1] ?? '')) end--;
  return `# WaveOS ${version}\n\n${lines.slice(start + 1, end).join('\n').trim()}\n`;
}

function gitCommit() {
  try {
    return run('git', ['-C', repo, 'rev-parse', 'HEAD'], { capture: true }).trim();
  } catch {
    return null;
  }
}

/** The self-update bundle from the tree: the program without node_modules and runtime (the launcher links the installed ones). */
function buildSelfUpdate(root, version, key, out, work) {
  const payload = join(work, 'selfupdate');
  rmSync(payload, { recursive: true, force: true });
  const app = join(root, PREFIX);
  cpSync(app, payload, { recursive: true, filter: (s) => s !== join(app, 'node_modules') && s !== join(app, 'runtime') });
  run(process.execPath, [join(repo, 'bin/waveos.js'), 'bundle', 'build', payload, '--kind', 'waveos', '--name', 'waveos', '--version', version, '--key', key.file, '--out', out], { capture: true });
  rmSync(payload, { recursive: true, force: true });
}

async function buildArch(arch, version, out, key, noDeb) {
  const t0 = performance.now();
  const base = `waveos_${version}_${ARCHES[arch].deb}`;
  // Each output directory has its own staging trees, so two builds at once (a test and a release) never share one.
  const work = join(out, '.stage', arch);
  const root = join(work, 'root');
  const runtime = nodeRuntime(arch);
  const natives = buildNatives(arch, runtime);
  const staged = stageTree(root, arch, runtime, natives);
  const sbom = await makeSbom(root, arch, version, runtime, natives, { source: staged.source, commit: gitCommit() });
  writeFileSync(join(out, `${base}.cdx.json`), `${JSON.stringify(sbom, null, 2)}\n`);
  const tTree = performance.now();
  buildTarball(root, join(out, `${base}.tar.gz`));
  const tTar = performance.now();
  if (!noDeb) buildDeb(root, arch, version, join(out, `${base}.deb`));
  const tDeb = performance.now();
  buildSelfUpdate(root, version, key, join(out, `${base}.wbundle`), work);
  const size = (f) => (existsSync(join(out, f)) ? statSync(join(out, f)).size : null);
  const du = (p) => Number(run('du', ['-sk', '--apparent-size', p], { capture: true }).split('\t')[0]) * 1024;
  const s = (ms) => Math.round(ms / 100) / 10;
  return {
    arch,
    payload: staged.source,
    files: [`${base}.tar.gz`, ...(noDeb ? [] : [`${base}.deb`]), `${base}.cdx.json`, `${base}.wbundle`],
    bytes: { deb: size(`${base}.deb`), tarball: size(`${base}.tar.gz`), bundle: size(`${base}.wbundle`), installed: du(root), runtime: du(join(root, PREFIX, 'runtime')), node_modules: du(join(root, PREFIX, 'node_modules')) },
    seconds: { tree: s(tTree - t0), tarball: s(tTar - tTree), deb: s(tDeb - tTar), total: s(performance.now() - t0) },
    tree: root,
  };
}

async function main() {
  const { values } = parseArgs({ options: { arch: { type: 'string', default: 'all' }, out: { type: 'string' }, 'no-deb': { type: 'boolean', default: false } } });
  const arches = values.arch === 'all' ? Object.keys(ARCHES) : values.arch.split(',');
  for (const a of arches) if (!ARCHES[a]) fail(`--arch ${a}: expected one of ${Object.keys(ARCHES).join(', ')} or all`);
  if (!existsSync(join(repo, 'dist/cli/main.js'))) fail('dist/ is missing: run `npm run build` first (`npm run release` does)');
  const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  const out = values.out ?? join(repo, '.release', version);
  const notes = releaseNotes(join(repo, 'CHANGELOG.md'), version);
  mkdirSync(out, { recursive: true });
  const key = releaseKey();
  const built = [];
  for (const arch of arches) {
    say(`building ${arch} (Node ${NODE_RUNTIME_VERSION})`);
    built.push(await buildArch(arch, version, out, key, values['no-deb']));
  }
  writeFileSync(join(out, 'RELEASE-NOTES.md'), notes);
  const { pub, pem } = writePublicKey(out, key);
  const names = [...built.flatMap((b) => b.files), 'RELEASE-NOTES.md', pub, pem];
  if (built.some((b) => b.payload === 'bundle')) {
    const maps = `waveos_${version}_sourcemaps.tar.gz`;
    buildSourceMaps(join(repo, 'dist/bundle'), join(out, maps));
    names.push(maps);
  }
  await signSums(out, names, key);
  const summary = { version, node: NODE_RUNTIME_VERSION, key_id: key.key_id, dev_key: key.dev, out, artifacts: built };
  writeFileSync(join(out, 'release.json'), `${JSON.stringify(summary, null, 2)}\n`);
  for (const b of built) say(`${b.arch}: ${b.files.join(', ')} in ${b.seconds.total} s (tree ${b.seconds.tree} s, deb ${b.seconds.deb} s)`);
  say(`signed SHA256SUMS with ${key.dev ? 'the DEV key' : 'the release key'} ${key.key_id}; everything is in ${out}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => fail(e instanceof Error ? e.message : String(e)));
}
