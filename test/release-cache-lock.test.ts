// The release cache's lock (scripts/release-lib.mjs withCacheLock): CI warms the cache in the background while
// the suite's release test may build the same entries, so two real processes must take turns, and a lock left
// by a killed builder must not hold the next one forever.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO } from './helpers/daemon.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

// A builder that records when it holds the lock, holding it long enough for the other to try.
const builder = (log: string) => `
const l = await import(${JSON.stringify(join(REPO, 'scripts/release-lib.mjs'))});
const { appendFileSync } = await import('node:fs');
l.withCacheLock('entry', () => {
  appendFileSync(${JSON.stringify(log)}, 'in ' + process.pid + '\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 700);
  appendFileSync(${JSON.stringify(log)}, 'out ' + process.pid + '\\n');
});`;

function run(cache: string, log: string): Promise<number> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--input-type=module', '-e', builder(log)], { env: { ...process.env, WAVEOS_RELEASE_CACHE: cache }, stdio: 'inherit' });
    c.on('exit', (code) => resolve(code ?? -1));
  });
}

describe('the release cache lock', () => {
  it('lets two builders in at most one at a time', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'waveos-cache-lock-'));
    dirs.push(cache);
    const log = join(cache, 'log');
    writeFileSync(log, '');
    expect(await Promise.all([run(cache, log), run(cache, log)])).toEqual([0, 0]);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const [a, b] = [lines[0]?.split(' ')[1], lines[2]?.split(' ')[1]];
    // Each "in" is followed by the same process's "out" before anyone else gets in.
    expect(lines).toEqual([`in ${a}`, `out ${a}`, `in ${b}`, `out ${b}`]);
    expect(a).not.toBe(b);
  });

  it('takes over a lock whose holder is gone', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'waveos-cache-lock-'));
    dirs.push(cache);
    // The pid of a process that has exited: a builder killed half-way.
    const gone = spawnSync(process.execPath, ['-p', 'process.pid'], { encoding: 'utf8' }).stdout.trim();
    mkdirSync(join(cache, 'entry.lock'));
    writeFileSync(join(cache, 'entry.lock', 'pid'), `${gone}\n`);
    const log = join(cache, 'log');
    writeFileSync(log, '');
    expect(await run(cache, log)).toBe(0);
    expect(readFileSync(log, 'utf8')).toMatch(/^in \d+\nout \d+\n$/);
  });
});
