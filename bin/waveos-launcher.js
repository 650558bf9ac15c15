#!/usr/bin/env node
// The stable launcher the unit starts: it runs the daemon from the `waveos` slot and rolls a daemon that
// keeps failing its trial back to the last known-good (docs/bundles.md, "Self-update").
// It runs the bundle (dist/bundle/waveos-launcher.mjs) when it is there, else dist/bundles/launcher.js.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = new URL('../dist/bundle/waveos-launcher.mjs', import.meta.url);
const tree = new URL('../dist/bundles/launcher.js', import.meta.url);
if (process.env.WAVEOS_NO_BUNDLE !== '1' && existsSync(fileURLToPath(bundle))) {
  await import(bundle.href);
} else if (existsSync(fileURLToPath(tree))) {
  const { runLauncher } = await import(tree.href);
  process.exitCode = await runLauncher(process.argv.slice(2));
} else {
  process.stderr.write('waveos-launcher: dist/ is missing; run `npm run build` first\n');
  process.exit(1);
}
