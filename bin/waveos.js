#!/usr/bin/env node
// The shipped command is plain JS from dist/; a missing build is a clear error, not a stack trace.
import './node-check.js'; // first: refuses an unsupported Node (exit 2)
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('waveos: dist/ is missing; run `npm run build` first\n');
  process.exit(1);
}
await import(entry.href);
