// scripts/symbolize.mjs: a frame of the minified bundle, as a board's log shows it, maps back to the TypeScript
// line it came from with the build's source maps; frames it has no map for are left alone.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/daemon.js';

const BUNDLE = join(REPO, 'dist/bundle');
const SOURCE = join(REPO, 'daemon/cli/since.ts');

/** Where `function parseSince(` starts in the built bundle: file, 1-based line and column. */
function generatedPosition(): { file: string; line: number; column: number } {
  for (const file of readdirSync(BUNDLE).filter((f) => f.endsWith('.mjs'))) {
    const text = readFileSync(join(BUNDLE, file), 'utf8');
    const i = text.indexOf('function parseSince(');
    if (i < 0) continue;
    const before = text.slice(0, i);
    return { file, line: before.split('\n').length, column: i - before.lastIndexOf('\n') };
  }
  throw new Error('parseSince is not in dist/bundle (npm run build)');
}

describe('symbolizing a stack trace from the bundle', () => {
  it('maps a bundle frame to its TypeScript line and leaves other frames as they are', () => {
    const at = generatedPosition();
    const line = readFileSync(SOURCE, 'utf8').split('\n').findIndex((l) => l.includes('function parseSince(')) + 1;
    const trace = [
      'Error: boom',
      `    at parseSince (file:///usr/lib/waveos/dist/bundle/${at.file}:${at.line}:${at.column})`,
      '    at node:internal/modules/run_main:1:2',
      '    at other (file:///usr/lib/waveos/dist/bundle/chunk-NOMAP.mjs:1:1)',
      '',
    ].join('\n');
    const r = spawnSync(process.execPath, [join(REPO, 'scripts/symbolize.mjs'), '--maps', BUNDLE], { input: trace, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout.split('\n');
    expect(out[1]).toMatch(new RegExp(`^    at parseSince \\(daemon/cli/since\\.ts:${line}:\\d+ \\[${at.file.replace('.', '\\.')}:${at.line}:${at.column}\\]\\)$`));
    expect(out[2]).toBe('    at node:internal/modules/run_main:1:2');
    expect(out[3]).toBe('    at other (file:///usr/lib/waveos/dist/bundle/chunk-NOMAP.mjs:1:1)');
  });

  it('says where the maps were looked for when there are none', () => {
    const r = spawnSync(process.execPath, [join(REPO, 'scripts/symbolize.mjs'), '--maps', join(REPO, 'no-such-dir')], { input: '', encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('no source maps in');
  });
});
