#!/usr/bin/env node
// The shipped command is plain JS: the bundle (dist/bundle/waveos.mjs, scripts/bundle.mjs) when it is there,
// else the compiled tree (dist/cli/main.js); a missing build is a clear error, not a stack trace.
// WAVEOS_NO_BUNDLE=1 runs dist/cli/main.js even when the bundle exists (to compare the two).
import './node-check.js'; // first: refuses an unsupported Node (exit 2)
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = new URL('../dist/bundle/waveos.mjs', import.meta.url);
const tree = new URL('../dist/cli/main.js', import.meta.url);
if (process.env.WAVEOS_NO_BUNDLE !== '1' && existsSync(fileURLToPath(bundle))) {
  await import(bundle.href);
} else if (existsSync(fileURLToPath(tree))) {
  await import(tree.href);
} else {
  process.stderr.write('waveos: dist/ is missing; run `npm run build` first\n');
  process.exit(1);
}
