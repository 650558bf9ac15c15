#!/usr/bin/env node
// Verifies a WaveOS release directory (docs/release.md, "Verifying a release"):
//   node scripts/release-verify.mjs DIR [--key FILE.pub|FILE.pem]
// 1. SHA256SUMS.sig is the release key's ed25519 signature of SHA256SUMS, and every listed file has its hash;
// 2. each tarball holds exactly the packages its SBOM lists (and no other), and the Node runtime and native
//    modules have the hashes the SBOM gives. Exit 0 verified, 5 verification failed, 2 usage error.
// Without --key the public key in DIR is used: that proves integrity, not origin; pass the key you trust.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PREFIX, run, sha256 } from './release-lib.mjs';
import { treeModules } from './release-sbom.mjs';
import { verifyRelease } from './release-sign.mjs';

/** Problems between an unpacked tree and its SBOM (empty when they agree). */
export async function checkTreeAgainstSbom(root, sbom, label) {
  const problems = [];
  const app = join(root, PREFIX);
  const listed = new Map(sbom.components.filter((c) => c.type === 'library').map((c) => [c['bom-ref'], c]));
  const present = treeModules(app);
  for (const rel of present) {
    const c = listed.get(rel);
    const pkg = JSON.parse(readFileSync(join(app, rel, 'package.json'), 'utf8'));
    if (!c) problems.push(`${label}: ${rel} (${pkg.name}@${pkg.version}) is in the tree but not in the SBOM`);
    else if (c.version !== pkg.version) problems.push(`${label}: ${rel} is ${pkg.version} in the tree, ${c.version} in the SBOM`);
  }
  for (const rel of listed.keys()) if (!present.includes(rel)) problems.push(`${label}: ${rel} is in the SBOM but not in the tree`);
  for (const c of sbom.components) {
    for (const p of c.properties ?? []) {
      if (!p.name.startsWith('waveos:sha256:')) continue;
      const rel = p.name.slice('waveos:sha256:'.length);
      const file = c['bom-ref'] === 'runtime/node' ? join(root, rel) : join(app, c['bom-ref'], rel);
      let got;
      try {
        got = await sha256(file);
      } catch {
        got = 'missing';
      }
      if (got !== p.value) problems.push(`${label}: ${c.name} ${rel} has sha256 ${got}, the SBOM says ${p.value}`);
    }
  }
  if (!sbom.components.some((c) => c['bom-ref'] === 'runtime/node')) problems.push(`${label}: the SBOM lists no Node runtime`);
  return problems;
}

async function main() {
  const { values, positionals } = parseArgs({ options: { key: { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) {
    process.stderr.write('usage: release-verify.mjs DIR [--key FILE.pub|FILE.pem]\n');
    return 2;
  }
  const dir = positionals[0];
  const key = values.key ?? join(dir, readdirSync(dir).find((f) => /^waveos-release-.*\.pub$/.test(f)) ?? 'no-key.pub');
  const problems = await verifyRelease(dir, key);
  // A tarball whose hash is already wrong is not unpacked: the SBOM check is for the files the signature covers.
  // The source maps' tarball is not an installable tree (no SBOM): SHA256SUMS covers it like every file.
  const trees = readdirSync(dir).filter((f) => f.endsWith('.tar.gz') && !f.endsWith('_sourcemaps.tar.gz'));
  for (const tgz of trees.filter((f) => !problems.some((p) => p.startsWith(`${f}:`)))) {
    const tmp = mkdtempSync(join(tmpdir(), 'waveos-verify-'));
    try {
      run('tar', ['-xzf', join(dir, tgz), '-C', tmp], { capture: true });
      const sbom = JSON.parse(readFileSync(join(dir, tgz.replace(/\.tar\.gz$/, '.cdx.json')), 'utf8'));
      problems.push(...(await checkTreeAgainstSbom(tmp, sbom, tgz)));
    } catch (e) {
      problems.push(`${tgz}: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  for (const p of problems) process.stderr.write(`release-verify: ${p}\n`);
  process.stdout.write(problems.length ? `release-verify: ${dir} FAILED (${problems.length} problem(s))\n` : `release-verify: ${dir} verified (signature, hashes, SBOM)\n`);
  return problems.length ? 5 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then((c) => (process.exitCode = c), (e) => {
    process.stderr.write(`release-verify: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 5;
  });
}
