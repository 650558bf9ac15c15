#!/usr/bin/env node
// Runs a HIL scenario from the command line: loads the TypeScript harness through vite's module runner
// (already installed with vitest), so the harness needs no build step and no extra dependency.
import { fileURLToPath } from 'node:url';
import { runnerImport } from 'vite';

const entry = fileURLToPath(new URL(process.argv[2] === '--acceptance' ? './acceptance.ts' : './cli.ts', import.meta.url));
const args = process.argv[2] === '--acceptance' ? process.argv.slice(3) : process.argv.slice(2);
const { module } = await runnerImport(entry, { configFile: false, logLevel: 'silent' });
process.exitCode = await module.main(args);
// Stray handles (a socket that never closed) must not keep a finished run alive.
setTimeout(() => process.exit(process.exitCode), 2000).unref();
