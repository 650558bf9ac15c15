import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { WaveosError, formatDurationText } from '../core/index.js';
import { parseConfigText, readConfigFile } from './index.js';

// A field per bound family: [the config text around the value, min ms, max ms, its dotted path].
const FIELDS: [(v: string) => string, number, number, string][] = [
  [(v) => `services:\n  - name: healthy\n    command: x\n    health: {kind: tcp, port: 80, interval: ${v}}\n`, 100, 3_600_000, 'services.0.health.interval'],
  [(v) => `telemetry:\n  sample_interval: ${v}\n`, 100, 3_600_000, 'telemetry.sample_interval'],
  [(v) => `spooler:\n  flush_interval: ${v}\n`, 10, 60_000, 'spooler.flush_interval'],
  [(v) => `recovery:\n  backoff_max: ${v}\n`, 10, 86_400_000, 'recovery.backoff_max'],
  [(v) => `bundles:\n  trial: ${v}\n`, 0, 86_400_000, 'bundles.trial'],
];

const UNITS: [string, number][] = [['ms', 1], ['s', 1_000], ['m', 60_000], ['h', 3_600_000], ['d', 86_400_000]];

function problems(text: string): string[] {
  try {
    parseConfigText(`schema_version: 2\n${text}`, 'c.yaml');
    return [];
  } catch (e) {
    if (!(e instanceof WaveosError)) throw e;
    return e.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('every duration in the config is bounded', () => {
  it('property: a generated duration is refused outside its field bounds, with the path and the bounds, and accepted inside', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: FIELDS.length - 1 }), fc.integer({ min: 0, max: 999_999_999 }), fc.integer({ min: 0, max: UNITS.length - 1 }), (f, n, u) => {
        const [text, lo, hi, path] = FIELDS[f] as (typeof FIELDS)[number];
        const [unit, size] = UNITS[u] as [string, number];
        const got = problems(text(`${n}${unit}`));
        const ms = n * size;
        if (ms >= lo && ms <= hi) expect(got).toEqual([]);
        else expect(got).toEqual([`${path}: must be between ${formatDurationText(lo)} and ${formatDurationText(hi)}, got ${n}${unit}`]);
      }),
      { numRuns: 400 },
    );
  });

  it('999999999h and 0ms are refused where they make no sense', () => {
    expect(problems('telemetry:\n  sample_interval: 999999999h\n')).toEqual(['telemetry.sample_interval: must be between 100ms and 1h, got 999999999h']);
    expect(problems('telemetry:\n  sample_interval: 0ms\n')).toEqual(['telemetry.sample_interval: must be between 100ms and 1h, got 0ms']);
    expect(problems('services:\n  - {name: a, command: x, stop_timeout: 99999999}\n')).toEqual(['services.0.stop_timeout: must be between 100ms and 1h, got 99999999 s']);
  });

  it('sizes are bounded too', () => {
    expect(problems('spooler:\n  max_line: 5GiB\n')).toEqual(['spooler.max_line: must be between 256 and 1MiB, got 5GiB']);
    expect(problems('proxy:\n  max_body: 1GiB\n')).toEqual(['proxy.max_body: must be between 1 and 64MiB, got 1GiB']);
  });
});

describe('the config file is size-checked before it is parsed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'waveos-cfg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('refuses a file over 1 MiB, naming the file and the limit', () => {
    const file = join(dir, 'big.yaml');
    writeFileSync(file, `schema_version: 2\n${'#'.repeat(1024 * 1024)}\n`);
    expect(() => readConfigFile(file)).toThrow(/big\.yaml: the config is \d+ bytes, over the limit of 1 MiB/);
  });
});
