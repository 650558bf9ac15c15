import { describe, expect, it } from 'vitest';
import { type WaveosError, formatProblem } from '../core/index.js';
import { parseMetricsCsv } from './metrics-csv.js';
import { parsePolicyText } from './parse.js';
import { buildPolicySet } from './policy-set.js';
import { policyJsonSchema } from './json-schema.js';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    return (e as WaveosError).problems.map(formatProblem);
  }
  throw new Error('expected it to throw');
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as WaveosError).code;
  }
  return 'none';
}

describe('policy files', () => {
  it('a valid file parses with its version and defaults', () => {
    const p = parsePolicyText('policy_version: 3\nrules:\n  - { id: a, kind: rate_limit, flow: service.restart, limit: 5, per: 10m }\n', '/etc/p/limits.yaml');
    expect(p.name).toBe('limits');
    expect(p.spec.policy_version).toBe('3');
    expect(p.spec.rules[0]).toMatchObject({ per: 600_000, per_key: true });
  });

  it.each([
    ['missing version', 'rules: []\n', /x\.yaml:1:1: policy_version is missing/],
    ['unknown top key', 'policy_version: 1\nrulez: []\n', /x\.yaml:2:1: rulez: unknown key "rulez" \(expected one of: policy_version/],
    [
      'unknown rule kind',
      'policy_version: 1\nrules:\n  - id: a\n    kind: magic\n',
      /x\.yaml:4:11: rules\.0\.kind: .*Expected 'threshold' \| 'budget'/,
    ],
    [
      'bad duration',
      'policy_version: 1\nrules:\n  - id: a\n    kind: rate_limit\n    flow: f\n    limit: 1\n    per: often\n',
      /x\.yaml:7:10: rules\.0\.per: expected a duration/,
    ],
    [
      'bad size',
      'policy_version: 1\nrules:\n  - { id: a, kind: budget, service: s, resource: rss, limit: lots, action: warn }\n',
      /x\.yaml:3:\d+: rules\.0\.limit: expected a number or a size/,
    ],
    [
      'unknown action',
      'policy_version: 1\nrules:\n  - { id: a, kind: threshold, metric: m, op: ">", value: 1, actions: [{ type: dance }] }\n',
      /rules\.0\.actions\.0\.type/,
    ],
    ['duplicate id', 'policy_version: 1\nrules:\n  - { id: a, kind: cap, service: s, nice: 1 }\n  - { id: a, kind: cap, service: s, nice: 2 }\n', /x\.yaml:4:11: rules\.1\.id: rule id "a" is used twice/],
    ['repeat without cooldown', 'policy_version: 1\nrules:\n  - { id: a, kind: threshold, metric: m, op: ">", value: 1, repeat: true, actions: [{ type: webhook }] }\n', /rules\.0\.repeat: repeat needs a cooldown/],
    ['bad nice', 'policy_version: 1\nrules:\n  - { id: a, kind: cap, service: s, nice: 40 }\n', /rules\.0\.nice: .*19/],
  ])('%s is located', (_name, text, re) => {
    expect(problems(() => parsePolicyText(text, '/d/x.yaml')).join('\n')).toMatch(re);
  });

  it('YAML syntax errors and duplicate keys are syntax errors with a place', () => {
    expect(codeOf(() => parsePolicyText('policy_version: 1\nrules: [\n', '/d/x.yaml'))).toBe('WAVEOS_E_POLICY_SYNTAX');
    expect(problems(() => parsePolicyText('policy_version: 1\npolicy_version: 2\n', '/d/x.yaml'))[0]).toMatch(/x\.yaml:2:1: YAML syntax error/);
    expect(codeOf(() => parsePolicyText('- a\n', '/d/x.yaml'))).toBe('WAVEOS_E_POLICY_INVALID');
  });

  it('cross-file checks: a rule id in two files, modes defined twice, undefined modes', () => {
    const a = parsePolicyText('policy_version: 1\nrules:\n  - { id: r, kind: cap, service: s, nice: 1 }\n', '/d/a.yaml');
    const b = parsePolicyText('policy_version: 1\nrules:\n  - { id: r, kind: cap, service: s, nice: 1 }\n', '/d/b.yaml');
    expect(problems(() => buildPolicySet([a, b])).join('\n')).toMatch(/b\.yaml:3:11: rules\.0\.id: rule id "r" is already used in \/d\/a\.yaml/);
    const m = 'policy_version: 1\nmodes:\n  normal: { transitions: [safe] }\n  degraded: { transitions: [] }\n  safe: { transitions: [normal] }\n';
    const m1 = parsePolicyText(m, '/d/m1.yaml');
    const m2 = parsePolicyText(m, '/d/m2.yaml');
    expect(problems(() => buildPolicySet([m1, m2])).join('\n')).toMatch(/m2\.yaml:2:1: modes: modes are already defined in \/d\/m1\.yaml/);
    const missing = parsePolicyText('policy_version: 1\nmodes:\n  normal: { transitions: [lost] }\n', '/d/m.yaml');
    const ps = problems(() => buildPolicySet([missing])).join('\n');
    expect(ps).toMatch(/mode "degraded" is missing/);
    expect(ps).toMatch(/m\.yaml:3:\d+: modes\.normal\.transitions\.0: mode "lost" is not defined/);
    const target = parsePolicyText(
      'policy_version: 1\nrules:\n  - { id: r, kind: breaker, trigger: { event: service.exit }, threshold: 1, window: 1s, open_for: 1s, probe: 1s, mode: panic }\n',
      '/d/t.yaml',
    );
    expect(problems(() => buildPolicySet([target])).join('\n')).toMatch(/t\.yaml:3:\d+: rules\.0\.mode: mode "panic" is not defined/);
  });

  it('the effective version names every file in order', () => {
    const a = parsePolicyText('policy_version: "2026.1"\n', '/d/b-limits.yaml');
    const b = parsePolicyText('policy_version: 7\n', '/d/a-modes.yaml');
    expect(buildPolicySet([a, b]).version).toBe('a-modes@7,b-limits@2026.1');
    expect(buildPolicySet([]).version).toBe('none');
  });

  it('the JSON Schema describes every rule kind', () => {
    const s = JSON.stringify(policyJsonSchema());
    for (const k of ['threshold', 'budget', 'rate_limit', 'cap', 'breaker', 'emit_event', 'request_reboot', 'policy_version']) expect(s).toContain(k);
  });
});

describe('metrics.csv', () => {
  it('reads the artifact format, quoted fields included', () => {
    const text =
      'ts,metric,value,unit,labels\n' +
      '2026-01-01T00:00:00.000Z,service.rss_bytes,1024,bytes,service=leaker\n' +
      '2026-01-01T00:00:01.000Z,"odd,name",1.5,"",a=1;b=x=y\n' +
      '2026-01-01T00:00:01.000Z,cpu,0.5,ratio,"note=say ""hi"", ok"\n';
    const s = parseMetricsCsv(text);
    expect(s).toEqual([
      { ts_ms: Date.UTC(2026, 0, 1), name: 'service.rss_bytes', value: 1024, unit: 'bytes', labels: { service: 'leaker' } },
      { ts_ms: Date.UTC(2026, 0, 1, 0, 0, 1), name: 'odd,name', value: 1.5, unit: '', labels: { a: '1', b: 'x=y' } },
      { ts_ms: Date.UTC(2026, 0, 1, 0, 0, 1), name: 'cpu', value: 0.5, unit: 'ratio', labels: { note: 'say "hi", ok' } },
    ]);
  });

  it('locates bad rows', () => {
    const text = 'ts,metric,value,unit,labels\nnot-a-time,m,1,,\n2026-01-01T00:00:00Z,m,abc,,\n2026-01-01T00:00:00Z,m,1,,"open\n';
    const ps = problems(() => parseMetricsCsv(text, 'm.csv'));
    expect(ps).toEqual([
      'm.csv:2:1: expected an ISO-8601 time in the ts column, got "not-a-time"',
      'm.csv:3:1: expected a number in the value column, got "abc"',
      'm.csv:4:1: a quoted field is not closed',
    ]);
    expect(problems(() => parseMetricsCsv('a,b\n', 'h.csv'))[0]).toMatch(/h\.csv:1:1: expected the header/);
  });
});

describe('docs/policy.schema.json', () => {
  it('is the schema this code generates (npm run policy-schema)', async () => {
    const { readFileSync } = await import('node:fs');
    const committed = JSON.parse(readFileSync(new URL('../../docs/policy.schema.json', import.meta.url), 'utf8')) as unknown;
    expect(committed).toEqual(policyJsonSchema());
  });
});
