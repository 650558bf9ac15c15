import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '..');
const SCRIPT = join(REPO, 'scripts', 'function-lengths.mjs');
const MAX_LINES = 120;


interface LongFunction {
  file: string;
  name: string;
  line: number;
  lines: number;
}

function longFunctions(root: string, max: number): LongFunction[] {
  const r = spawnSync(process.execPath, [SCRIPT, String(max), '--json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 1) throw new Error(`function-lengths.mjs failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as LongFunction[];
}

let tmp: string | undefined;
afterEach(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

describe('function length', () => {
  it(`no function in daemon/ is over ${MAX_LINES} lines`, () => {
    const over = longFunctions(REPO, MAX_LINES);
    expect(over.map((f) => `${f.file}:${f.line} ${f.name} is ${f.lines} lines`)).toEqual([]);
  });

  it('the measure counts from the first to the last line, leading comments aside, and names what it finds', () => {
    tmp = mkdtempSync(join(tmpdir(), 'fnlen-'));
    mkdirSync(join(tmp, 'daemon', 'm'), { recursive: true });
    const body = (n: number): string => Array.from({ length: n - 2 }, (_, i) => `  const v${i} = ${i};`).join('\n');
    writeFileSync(
      join(tmp, 'daemon', 'm', 'a.ts'),
      [
        '/** A comment that does not count. */',
        `export function five(): void {\n${body(5)}\n}`,
        `export function six(): void {\n${body(6)}\n}`,
        `class K {\n  method(): void {\n${body(6)}\n  }\n}`,
        `const arrow = (): void => {\n${body(7)}\n};`,
      ].join('\n'),
    );
    writeFileSync(join(tmp, 'daemon', 'm', 'a.test.ts'), `export function inATest(): void {\n${body(50)}\n}\n`);
    expect(longFunctions(tmp, 5).map((f) => [f.file, f.name, f.line, f.lines])).toEqual([
      ['daemon/m/a.ts', 'arrow', 21, 7],
      ['daemon/m/a.ts', 'six', 7, 6],
      ['daemon/m/a.ts', 'K.method', 14, 6],
    ]);
  });
});
