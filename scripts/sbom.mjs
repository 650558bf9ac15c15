// Writes the CycloneDX SBOM of the production dependencies beside the build (dist/sbom.cdx.json).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';

try {
  const sbom = execFileSync('npm', ['sbom', '--sbom-format', 'cyclonedx', '--omit', 'dev'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 });
  JSON.parse(sbom);
  mkdirSync('dist', { recursive: true });
  writeFileSync('dist/sbom.cdx.json', sbom);
} catch (e) {
  // A tree without node_modules (an unpacked release) cannot list its dependencies; say so, do not fail the build.
  process.stderr.write(`sbom: not written (${e instanceof Error ? e.message.split('\n')[0] : String(e)})\n`);
}
