#!/usr/bin/env node
// The stable launcher the unit starts: it runs the daemon from the `waveos` slot and rolls a daemon that
// keeps failing its trial back to the last known-good (docs/bundles.md, "Self-update").
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/bundles/launcher.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('waveos-launcher: dist/ is missing; run `npm run build` first\n');
  process.exit(1);
}
const { runLauncher } = await import(entry.href);
process.exitCode = await runLauncher(process.argv.slice(2));
