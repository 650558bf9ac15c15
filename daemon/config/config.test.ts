import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isWaveosError } from '../core/index.js';
import { configJsonSchema, effectiveConfig, loadConfig, parseConfigText } from './index.js';

function problemsOf(text: string): { line?: number; column?: number; path?: string; message: string }[] {
  try {
    parseConfigText(text, 'c.yaml');
  } catch (e) {
    if (isWaveosError(e)) return [...e.problems];
    throw e;
  }
  return [];
}

describe('parseConfigText', () => {
  it('accepts a full valid config', () => {
    const { file } = parseConfigText(
      [
        'schema_version: 2',
        'profile: prod',
        'device: {device_id: board-1, app_id: pump, environment: field}',
        'feature_flags: {uplink: true}',
        'log: {level: debug, format: json, redact: ["req.headers.cookie"]}',
        'journal: {batch_max: 64, batch_delay_ms: 5}',
        'artifacts: {flush_interval: 30s, keep_runs: 5, max_bytes: 64MiB}',
      ].join('\n'),
      'c.yaml',
    );
    expect(file.artifacts?.flush_interval).toBe(30_000);
    expect(file.artifacts?.max_bytes).toBe(64 * 1024 * 1024);
    expect(file.profile).toBe('prod');
  });

  it('locates an unknown nested key at its line and column', () => {
    const p = problemsOf('schema_version: 2\ndevice:\n  device_id: a\n  serial: 7\n');
    expect(p).toEqual([expect.objectContaining({ line: 4, column: 3, path: 'device.serial', message: 'unknown key "serial"' })]);
  });

  it('reports every problem, not just the first', () => {
    const p = problemsOf('schema_version: 2\njournal:\n  batch_max: 0\n  batch_delay_ms: -1\nbogus: 1\n');
    expect(p.map((x) => x.path).sort()).toEqual(['bogus', 'journal.batch_delay_ms', 'journal.batch_max']);
  });

  it('refuses duplicate keys as a YAML error', () => {
    expect(problemsOf('schema_version: 2\nschema_version: 2\n')[0]?.message).toMatch(/YAML syntax error/);
  });

  it('refuses a top level that is not a mapping', () => {
    expect(problemsOf('- a\n- b\n')[0]?.message).toMatch(/expected a mapping/);
  });

  it('migrates schema_version 1 in memory', () => {
    const r = parseConfigText('schema_version: 1\ndevice_id: b7\nenvironment: lab\nartifacts: {flush_interval_s: 3}\n', 'old.yaml');
    expect(r.migrations.map((m) => [m.from, m.to])).toEqual([[1, 2]]);
    expect(r.file.device).toEqual({ device_id: 'b7', environment: 'lab' });
    expect(r.file.artifacts?.flush_interval).toBe(3_000);
  });

  it('never throws anything but a located config error on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          parseConfigText(text, 'fuzz.yaml');
        } catch (e) {
          expect(isWaveosError(e)).toBe(true);
          if (isWaveosError(e)) expect(e.problems.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('effective config', () => {
  it('takes the profile defaults under the file', () => {
    const dev = effectiveConfig(undefined, 'dev', 'x');
    const prod = effectiveConfig(undefined, 'prod', 'x');
    expect(dev.artifacts.flush_interval_ms).toBe(5_000);
    expect(prod.artifacts.flush_interval_ms).toBe(60_000);
    expect(prod.device.device_id).toBe('x');
    expect(Object.isFrozen(prod.artifacts)).toBe(true);
  });

  it('--profile wins over the file, and a missing default file means built-in defaults', () => {
    const l = loadConfig({ defaultFile: '/nonexistent/waveos.yaml', profile: 'prod', fileExists: () => false });
    expect(l.file).toBeUndefined();
    expect(l.config.profile).toBe('prod');
    expect(l.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a chaos section works in dev, is refused (located) in prod, and an effect a point cannot have is located', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-chaos-'));
    const file = join(dir, 'waveos.yaml');
    writeFileSync(file, 'schema_version: 2\nchaos:\n  seed: 9\n  rules:\n    - { point: spool.write, rate: 0.1, effect: ENOSPC }\n');
    const dev = loadConfig({ explicitFile: file, defaultFile: file, fileExists: () => true });
    expect(dev.config.chaos).toEqual({ seed: 9, rules: [{ point: 'spool.write', rate: 0.1, effect: 'ENOSPC', delay_ms: 100 }] });
    let err: unknown;
    try {
      loadConfig({ explicitFile: file, defaultFile: file, profile: 'prod', fileExists: () => true });
    } catch (e) {
      err = e;
    }
    expect(isWaveosError(err) && err.code).toBe('WAVEOS_E_CONFIG_INVALID');
    expect(isWaveosError(err) && err.problems[0]).toMatchObject({ line: 2, path: 'chaos', message: expect.stringMatching(/refused in the prod profile/) });
    expect(problemsOf('schema_version: 2\nchaos:\n  rules:\n    - { point: collector, rate: 0.1, effect: EIO }\n')).toEqual([
      expect.objectContaining({ path: 'chaos.rules.0.effect', message: expect.stringMatching(/disk points only/) }),
    ]);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('JSON Schema export', () => {
  it('describes the config file for editors', () => {
    const s = configJsonSchema() as { properties: Record<string, unknown>; additionalProperties: unknown; required: string[] };
    expect(Object.keys(s.properties)).toEqual(expect.arrayContaining(['schema_version', 'device', 'artifacts', 'journal']));
    expect(s.additionalProperties).toBe(false);
    expect(s.required).toContain('schema_version');
  });
});

describe('the spooler and proxy sections', () => {
  it('lays file values over the defaults, sizes in bytes and durations in ms', () => {
    const { file } = parseConfigText(
      [
        'schema_version: 2',
        'spooler: {quota: 8MiB, flush_interval: 1s, fsync: every-batch, rate: false, redact: ["sk_[a-z]+"], sources: {app: {rate: {lines_per_s: 5}}}}',
        'proxy: {enabled: true, upstreams: {cloud: {url: "http://127.0.0.1:9000"}}, routes: [{name: r, upstream: cloud, path: /v1/x, durable: true}]}',
      ].join('\n'),
      'c.yaml',
    );
    const c = effectiveConfig(file, 'prod', 'dev-x');
    expect(c.spooler).toMatchObject({ quota_bytes: 8 * 1024 * 1024, flush_interval_ms: 1_000, fsync: 'every-batch', socket_mode: 0o666 });
    expect(c.spooler.defaults.rate).toBeUndefined();
    expect(c.spooler.sources.app?.rate).toEqual({ lines_per_s: 5, bytes_per_s: undefined, burst_s: 2 });
    expect(c.spooler.redact.at(-1)).toBe('sk_[a-z]+');
    expect(c.proxy.routes[0]).toMatchObject({ name: 'r', durable: true, methods: ['POST'], max_body_bytes: 256 * 1024 });
    expect(effectiveConfig(undefined, 'dev', 'd').proxy.enabled).toBe(false);
  });

  it('locates a bad redaction pattern and a route to an unknown upstream', () => {
    expect(problemsOf('schema_version: 2\nspooler:\n  redact: ["(open"]\n')[0]).toMatchObject({ path: 'spooler.redact.0', line: 3 });
    const p = problemsOf('schema_version: 2\nproxy:\n  routes: [{name: r, upstream: nowhere, path: /x}]\n');
    expect(p[0]?.path).toBe('proxy.routes.0.upstream');
    expect(p[0]?.message).toMatch(/no upstream named "nowhere"/);
  });
});
