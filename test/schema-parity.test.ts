import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { configJsonSchema, loadConfig } from '../daemon/config/index.js';
import { parsePolicyText, policyJsonSchema } from '../daemon/policy/index.js';

const repo = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'waveos-schema-parity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: false, formats: { uri: true } });
const schemaOk = {
  config: ajv.compile(JSON.parse(readFileSync(join(repo, 'docs/waveos.schema.json'), 'utf8'))),
  policy: ajv.compile(JSON.parse(readFileSync(join(repo, 'docs/policy.schema.json'), 'utf8'))),
};

let n = 0;
/** The daemon reads the file from disk, as it does at start-up (loadConfig, the profile from the file). */
function daemonAcceptsConfig(text: string): boolean {
  const file = join(dir, `c${n++}.yaml`);
  writeFileSync(file, text);
  try {
    loadConfig({ explicitFile: file, defaultFile: file, fileExists: () => true });
    return true;
  } catch {
    return false;
  }
}

function daemonAcceptsPolicy(text: string): boolean {
  try {
    parsePolicyText(text, 'p.yaml');
    return true;
  } catch {
    return false;
  }
}

function verdicts(kind: 'config' | 'policy', text: string): { daemon: boolean; schema: boolean } {
  const daemon = kind === 'config' ? daemonAcceptsConfig(text) : daemonAcceptsPolicy(text);
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return { daemon, schema: false };
  }
  return { daemon, schema: schemaOk[kind](doc) };
}

/** YAML blocks of the docs and the repo's example files, each sorted as a config or a policy by its first key. */
function examples(): { name: string; kind: 'config' | 'policy'; text: string }[] {
  const out: { name: string; kind: 'config' | 'policy'; text: string }[] = [];
  const add = (name: string, text: string): void => {
    if (/^schema_version:/m.test(text)) out.push({ name, kind: 'config', text });
    else if (/^policy_version:/m.test(text)) out.push({ name, kind: 'policy', text });
  };
  for (const f of readdirSync(join(repo, 'docs')).filter((f) => f.endsWith('.md'))) {
    const md = readFileSync(join(repo, 'docs', f), 'utf8');
    [...md.matchAll(/```ya?ml\n([\s\S]*?)```/g)].forEach((m, i) => add(`docs/${f}#${i}`, m[1] ?? ''));
  }
  for (const f of readdirSync(join(repo, 'policies'))) add(`policies/${f}`, readFileSync(join(repo, 'policies', f), 'utf8'));
  add('bundles/examples/config-site/waveos.yaml', readFileSync(join(repo, 'bundles/examples/config-site/waveos.yaml'), 'utf8'));
  add('bundles/examples/policy-default/default.yaml', readFileSync(join(repo, 'bundles/examples/policy-default/default.yaml'), 'utf8'));
  return out;
}

const config = (doc: Record<string, unknown>): string => stringify({ schema_version: 2, ...doc });
const service = (extra: Record<string, unknown>): string => config({ services: [{ name: 'app', command: '/bin/true', ...extra }] });

/** Cases the daemon refuses and the published schemas accept as well, each named. */
const HAND_CASES: [string, 'config' | 'policy', string][] = [
  ['negative stop_timeout', 'config', service({ stop_timeout: -1 })],
  ['stop_timeout "-5s"', 'config', service({ stop_timeout: '-5s' })],
  ['stop_timeout "soon"', 'config', service({ stop_timeout: 'soon' })],
  ['stop_timeout in seconds', 'config', service({ stop_timeout: 5 })],
  ['stop_timeout with spaces', 'config', service({ stop_timeout: ' 5 s ' })],
  ['unknown health kind', 'config', service({ health: { kind: 'ping' } })],
  ['http health without url', 'config', service({ health: { kind: 'http' } })],
  ['http health', 'config', service({ health: { kind: 'http', url: 'http://127.0.0.1:8080/health' } })],
  ['ftp health url', 'config', service({ health: { kind: 'http', url: 'ftp://127.0.0.1/health' } })],
  ['tcp health without port', 'config', service({ health: { kind: 'tcp' } })],
  ['exec health with url', 'config', service({ health: { kind: 'exec', command: 'x', url: 'http://a' } })],
  ['a duration string below the least', 'config', service({ stop_timeout: '0ms' })],
  ['a duration string at the least', 'config', service({ stop_timeout: '0.1s' })],
  ['a duration string rounding up to the least', 'config', service({ stop_timeout: '99.5ms' })],
  ['a duration string above the most', 'config', service({ stop_timeout: '61m' })],
  ['a size string above the most', 'config', config({ artifacts: { max_bytes: '2048GiB' } })],
  ['a size string below the least', 'config', config({ artifacts: { max_bytes: '1MB' } })],
  ['size "lots"', 'config', config({ artifacts: { max_bytes: 'lots' } })],
  ['size 64MiB', 'config', config({ artifacts: { max_bytes: '64MiB' } })],
  ['size 64mib', 'config', config({ artifacts: { max_bytes: '64mib' } })],
  ['size in bytes below the least', 'config', config({ artifacts: { max_bytes: 1000 } })],
  ['cron "every day"', 'config', config({ evidence: { schedule: 'every day' } })],
  ['cron "0 3 * * *"', 'config', config({ evidence: { schedule: '0 3 * * *' } })],
  ['cron @daily', 'config', config({ evidence: { schedule: '@daily' } })],
  ['schedule off', 'config', 'schema_version: 2\nevidence: {schedule: "off"}\n'],
  ['schedule off unquoted (YAML 1.1 would read false)', 'config', 'schema_version: 2\nevidence: {schedule: off}\n'],
  ['schema_version 1 with top-level identity', 'config', stringify({ schema_version: 1, device_id: 'b1', artifacts: { flush_interval_s: 30 } })],
  ['schema_version 1 with flush_interval_s as text', 'config', stringify({ schema_version: 1, artifacts: { flush_interval_s: '30' } })],
  ['schema_version 1 with flush_interval_s over an hour', 'config', stringify({ schema_version: 1, artifacts: { flush_interval_s: '3601' } })],
  ['schema_version 1 with flush_interval_s rounding up to 100 ms', 'config', stringify({ schema_version: 1, artifacts: { flush_interval_s: 0.0999 } })],
  ['schema_version 1 with a negative flush_interval_s', 'config', stringify({ schema_version: 1, artifacts: { flush_interval_s: -1 } })],
  ['schema_version 1 with a bad device_id', 'config', stringify({ schema_version: 1, device_id: '-x' })],
  ['schema_version 3', 'config', stringify({ schema_version: 3 })],
  ['schema_version 0', 'config', stringify({ schema_version: 0 })],
  ['schema_version 2 with top-level device_id', 'config', stringify({ schema_version: 2, device_id: 'b1' })],
  ['chaos in prod', 'config', config({ profile: 'prod', chaos: { rules: [] } })],
  ['chaos in dev', 'config', config({ profile: 'dev', chaos: { rules: [{ point: 'collector', rate: 0.1 }] } })],
  ['chaos: EIO at a collector', 'config', config({ chaos: { rules: [{ point: 'collector', rate: 0.1, effect: 'EIO' }] } })],
  ['chaos: fail at a disk point', 'config', config({ chaos: { rules: [{ point: 'spool.write', rate: 0.1, effect: 'fail' }] } })],
  ['unknown top-level key', 'config', config({ colour: 'blue' })],
  ['breaker without mode or actions', 'policy', stringify({ policy_version: 1, rules: [{ id: 'b', kind: 'breaker', event: 'service.exited', threshold: 3, window: '1m', open_for: '1m', probe: '1m' }] })],
  ['threshold repeat without cooldown', 'policy', stringify({ policy_version: 1, rules: [{ id: 't', kind: 'threshold', metric: 'm', op: '>', value: '1MiB', repeat: true, actions: [{ type: 'log' }] }] })],
  ['threshold value "lots"', 'policy', stringify({ policy_version: 1, rules: [{ id: 't', kind: 'threshold', metric: 'm', op: '>', value: 'lots', actions: [{ type: 'log' }] }] })],
];

/**
 * What a JSON Schema cannot say, so the daemon alone refuses it: references between keys, duplicate names, what
 * a regular expression compiles to, a day that none of the listed months has.
 */
const SCHEMA_CANNOT_SAY: [string, 'config' | 'policy', string][] = [
  ['service declared twice', 'config', config({ services: [{ name: 'a', command: 'x' }, { name: 'a', command: 'y' }] })],
  ['undeclared secret', 'config', service({ secrets_env: { TOKEN: 'token' } })],
  ['route to an unknown upstream', 'config', config({ proxy: { routes: [{ name: 'r', upstream: 'u', path: '/v1' }] } })],
  ['the 30th of February', 'config', config({ evidence: { schedule: '0 0 30 2 *' } })],
  ['a redaction pattern that does not compile', 'config', config({ spooler: { redact: ['(unclosed'] } })],
  ['a rule id used twice', 'policy', stringify({ policy_version: 1, rules: [0, 1].map(() => ({ id: 'r', kind: 'rate_limit', flow: 'service.restart', limit: 5, per: '10m' })) })],
];

describe('the published JSON Schemas give the daemon’s verdict', () => {
  const found = examples();

  it('checks the published files, which match what the daemon generates', () => {
    expect(JSON.parse(readFileSync(join(repo, 'docs/waveos.schema.json'), 'utf8'))).toEqual(configJsonSchema());
    expect(JSON.parse(readFileSync(join(repo, 'docs/policy.schema.json'), 'utf8'))).toEqual(policyJsonSchema());
  });

  it('finds the repo’s examples', () => {
    expect(found.filter((e) => e.kind === 'config').length).toBeGreaterThanOrEqual(3);
    expect(found.filter((e) => e.kind === 'policy').length).toBeGreaterThan(4);
  });

  it('agrees on every example in the docs, policies/ and bundles/examples', () => {
    const differ = found.map((e) => ({ name: e.name, ...verdicts(e.kind, e.text) })).filter((v) => v.daemon !== v.schema);
    // A fragment of a larger config: it names a secret it does not declare, a reference only the daemon checks.
    expect(differ).toEqual([{ name: 'docs/services.md#0', daemon: false, schema: true }]);
  });

  it.each(HAND_CASES)('agrees: %s', (_name, kind, text) => {
    const v = verdicts(kind, text);
    expect(v.schema).toBe(v.daemon);
  });

  it.each(SCHEMA_CANNOT_SAY)('the daemon alone refuses: %s', (_name, kind, text) => {
    expect(verdicts(kind, text)).toEqual({ daemon: false, schema: true });
  });
});

/**
 * A duration for stop_timeout (100ms..1h) in any unit, inside the bounds or out, or a string that is no duration.
 * Numerals have at most one decimal, which keeps them off the float rounding edges the daemon's arithmetic has.
 */
const durationText = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 4_000_000 }), fc.constantFrom(1, 10, 1000, 100_000), fc.boolean(), fc.constantFrom('ms', 's', 'm', 'h', 'd'), fc.constantFrom('', ' '))
    .map(([v, scale, tenth, u, sp]) => `${Math.floor(v / scale)}${tenth ? `.${v % 10}` : ''}${sp}${u}`),
  fc.tuple(fc.integer({ min: 95, max: 105 }), fc.constantFrom('ms', '0ms', '00ms')).map(([v, u]) => `${v}${u}`),
  fc.constantFrom('soon', '-5s', '5 sec', '', '1e3s', '5', '.5s', '5.s', 'ms', '5S', '1w'),
  fc.string().filter((s) => !/\d/.test(s)),
);

/** A size for artifacts.max_bytes (1MiB..1024GiB): bytes, a string within the bounds, or no size at all. */
const sizeValue = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 42 }),
  fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.constantFrom('MiB', 'mib', 'GiB', 'MB', 'gb', ' MiB', 'KiB', 'kb', '', 'B')).map(([v, u]) => `${v}${u}`),
  fc.tuple(fc.integer({ min: 1_048_570, max: 1_048_580 }), fc.constantFrom('', 'b', ' B')).map(([v, u]) => `${v}${u}`),
  fc.constantFrom('lots', '-1', '1TiB', '1 K', 'MiB', '1.5.5MiB', '0x10'),
  fc.string().filter((s) => !/\d/.test(s)),
);

const cronField = (lo: number, hi: number): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constant('*'),
    fc.integer({ min: lo - 1, max: hi + 2 }).map(String),
    fc.integer({ min: 0, max: 70 }).map((s) => `*/${s}`),
    fc.tuple(fc.integer({ min: lo, max: hi + 1 }), fc.integer({ min: lo, max: hi + 1 })).map(([a, b]) => `${a}-${b}`),
    fc.tuple(fc.integer({ min: lo, max: hi }), fc.integer({ min: 1, max: 3 })).map(([a, b]) => `${a},${a + b}`),
    fc.constantFrom('x', '-', '1-', ',', '5/2', '1-2-3'),
  );

/** Days up to 28 (every month has them), so no case hangs on a day that only some months have. */
const cronText = fc
  .tuple(fc.boolean(), cronField(0, 59), cronField(0, 59), cronField(0, 23), cronField(1, 28), cronField(1, 12), cronField(0, 7))
  .map(([six, s, m, h, dom, mon, dow]) => (six ? [s, m, h, dom, mon, dow] : [m, h, dom, mon, dow]).join(' '));

describe('generated values get the same verdict from the daemon and the schema', () => {
  const agree = (text: string): void => {
    const v = verdicts('config', text);
    expect(v.schema, text).toBe(v.daemon);
  };

  it('durations', () => fc.assert(fc.property(durationText, (d) => agree(service({ stop_timeout: d }))), { numRuns: 200 }));

  it('seconds as plain numbers', () =>
    fc.assert(fc.property(fc.double({ min: -10, max: 4000, noNaN: true }), (d) => agree(service({ stop_timeout: d }))), { numRuns: 200 }));

  it('sizes', () => fc.assert(fc.property(sizeValue, (v) => agree(config({ artifacts: { max_bytes: v } }))), { numRuns: 200 }));

  it('cron schedules', () => fc.assert(fc.property(cronText, (c) => agree(config({ evidence: { schedule: c } }))), { numRuns: 300 }));

  it('health checks', () =>
    fc.assert(
      fc.property(
        fc.record(
          {
            kind: fc.constantFrom('process', 'exec', 'tcp', 'http', 'heartbeat', 'ping'),
            url: fc.constantFrom('http://127.0.0.1:8080/h', 'https://example.org', 'ftp://x/y'),
            command: fc.constantFrom('/bin/true', ''),
            port: fc.integer({ min: 0, max: 70_000 }),
            file: fc.constant('/run/app.beat'),
            max_age: fc.constantFrom('5s', 30, 'soon'),
            interval: fc.constantFrom('5s', 0.05, 'soon'),
          },
          { requiredKeys: ['kind'] },
        ),
        (health) => agree(service({ health })),
      ),
      { numRuns: 300 },
    ));
});
