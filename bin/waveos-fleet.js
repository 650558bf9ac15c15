#!/usr/bin/env node
// The fleet controller (docs/fleet.md), plain JS from dist/controller/; a missing build is a clear error.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/controller/fleet/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('waveos-fleet: dist/controller/ is missing; run `npm run build` first\n');
  process.exit(1);
}
await import(entry.href);
