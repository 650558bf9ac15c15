import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, WaveosError, canonicalJson, claimPidFile, newRunId, parseDuration, parseSize, pathsFor, trimTornTail, writeFileAtomic } from './index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'core-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('durations and sizes', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5_000],
    ['1.5m', 90_000],
    ['2h', 7_200_000],
    ['30d', 2_592_000_000],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '5', 'soon', '-1s', '5 years'])('"%s" is not a duration', (t) => expect(parseDuration(t)).toBeUndefined());
  it.each([
    ['4096', 4096],
    ['512KiB', 524_288],
    ['256MiB', 268_435_456],
    ['1GB', 1_000_000_000],
  ])('%s is %d bytes', (t, b) => expect(parseSize(t)).toBe(b));
  it('rejects a size with an unknown unit', () => expect(parseSize('5 parsecs')).toBeUndefined());
});

describe('writeFileAtomic', () => {
  it('replaces the content and leaves no temp file', () => {
    const f = join(dir, 'a.json');
    writeFileAtomic(f, 'one');
    writeFileAtomic(f, 'two');
    expect(readFileSync(f, 'utf8')).toBe('two');
    expect(readdirSync(dir)).toEqual(['a.json']);
  });
});

describe('trimTornTail', () => {
  it('cuts a half-written last line and keeps whole lines', () => {
    const f = join(dir, 'x.jsonl');
    writeFileSync(f, '{"a":1}\n{"b":2}\n{"c":');
    expect(trimTornTail(f)).toBe(5);
    expect(readFileSync(f, 'utf8')).toBe('{"a":1}\n{"b":2}\n');
    expect(trimTornTail(f)).toBe(0);
  });
  it('empties a file with no complete line, and ignores a missing one', () => {
    const f = join(dir, 'y');
    writeFileSync(f, 'partial');
    expect(trimTornTail(f)).toBe(7);
    expect(readFileSync(f, 'utf8')).toBe('');
    expect(trimTornTail(join(dir, 'none'))).toBe(0);
  });
  it('finds the last newline beyond one read chunk', () => {
    const f = join(dir, 'big');
    writeFileSync(f, `${'x'.repeat(10)}\n${'y'.repeat(200_000)}`);
    expect(trimTornTail(f)).toBe(200_000);
  });
});

describe('ids, paths, clock', () => {
  it('run ids sort by start time', () => {
    const a = newRunId(Date.UTC(2026, 0, 1, 0, 0, 0));
    const b = newRunId(Date.UTC(2026, 0, 1, 0, 0, 1));
    expect(a < b).toBe(true);
    expect(a).toMatch(/^20260101T000000Z-[0-9a-f]{6}$/);
  });
  it('derives every path from the root', () => {
    const p = pathsFor('/r');
    expect(p.db).toBe('/r/var/lib/waveos/waveos.db');
    expect(p.socket).toBe('/r/run/waveos/waveos.sock');
    expect(p.policiesDir).toBe('/r/etc/waveos/policies.d');
    expect(p.auditLog).toBe('/r/var/log/waveos/audit.jsonl');
  });
  it('the fake clock moves wall time apart from monotonic time', () => {
    const c = new FakeClock(0, 0);
    c.advance(1000);
    c.jumpWall(-5000);
    expect(c.now()).toBe(-4000);
    expect(c.monoMs()).toBe(1000);
    expect(() => c.advance(-1)).toThrow();
  });
});

describe('claimPidFile', () => {
  it('refuses when the recorded process is alive, and takes over a stale file', () => {
    const f = join(dir, 'waveos.pid');
    writeFileSync(f, JSON.stringify({ pid: 1, start_time: 'not-the-real-one' }));
    claimPidFile(f);
    expect(JSON.parse(readFileSync(f, 'utf8')).pid).toBe(process.pid);
    const parent = process.ppid;
    const stat = readFileSync(`/proc/${parent}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    writeFileSync(f, JSON.stringify({ pid: parent, start_time: start }));
    expect(() => claimPidFile(f)).toThrow(WaveosError);
  });
});

describe('canonicalJson', () => {
  const reversed = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(reversed);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)]));
    return v;
  };

  it('is valid JSON of the same value, independent of key insertion order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const out = canonicalJson(v);
        expect(JSON.parse(out)).toEqual(JSON.parse(JSON.stringify(v) ?? 'null'));
        expect(canonicalJson(reversed(v))).toBe(out);
      }),
      { numRuns: 500 },
    );
  });

  it('sorts keys at every depth and honours toJSON', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: undefined }], c: new Date(0) } })).toBe('{"a":{"c":"1970-01-01T00:00:00.000Z","d":[1,{"z":1}]},"b":1}');
    expect(canonicalJson([undefined, () => 1])).toBe('[null,null]');
  });
});
