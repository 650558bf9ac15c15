import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, cli, tempRoot, waitFor } from './helpers/daemon.js';
import { daemonFixture } from './helpers/fixture.js';
import { events, example } from './helpers/services.js';

const fixture = daemonFixture('waveos-policyref-');

const DEAD_RULES = `policy_version: 1
rules:
  - id: hot
    kind: threshold
    metric: board.temp_c
    op: ">"
    value: 80
    actions: [{ type: restart_service, service: leakr }]
  - id: storm
    kind: breaker
    trigger: { event: service.exit }
    threshold: 3
    window: 1m
    open_for: 1m
    probe: 30s
    mode: safe
`;

interface Problem {
  file: string;
  line: number;
  message: string;
}

describe('policies are checked against the device they are for', () => {
  it('policy validate refuses names that could never match, with the line and the nearest valid name', () => {
    const dir = tempRoot('waveos-policyref-');
    const file = join(dir, 'dead.yaml');
    writeFileSync(file, DEAD_RULES);
    const r = cli(['policy', 'validate', file]);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    const problems = [...r.stderr.matchAll(/^ {2}(\S+?):(\d+):\d+: rules\.[\w.]+: (.*)$/gm)].map((m) => ({ file: m[1], line: Number(m[2]), message: m[3] }) as Problem);
    expect(problems.every((p) => p.file === file)).toBe(true);
    expect(problems.map((p) => [p.line, p.message.replace(/ \(.*$/, '')])).toEqual([
      [5, 'no enabled collector produces the metric "board.temp_c"; did you mean "temperature_celsius"?'],
      [8, 'no service named "leakr" is configured; did you mean "leaker"?'],
      [11, 'WaveOS journals no event of kind "service.exit"; did you mean "service.exited"?'],
    ]);
    // The config decides: with a config that has no leaker, the shipped budget on it is dead too.
    const config = join(dir, 'waveos.yaml');
    writeFileSync(config, JSON.stringify({ schema_version: 2, services: [example('healthy', 'healthy.mjs')] }));
    const shipped = cli(['policy', 'validate', join(REPO, 'policies/leaker-budget.yaml'), '--config', config]);
    expect(shipped.code).toBe(2);
    expect(shipped.stderr).toMatch(/no service named "leaker" is configured/);
    // A collector turned off makes its metrics unknown.
    writeFileSync(config, JSON.stringify({ schema_version: 2, services: [example('leaker', 'leaker.mjs')], telemetry: { collectors: { services: false } } }));
    expect(cli(['policy', 'validate', join(REPO, 'policies/leaker-budget.yaml'), '--config', config]).stderr).toMatch(/no enabled collector produces the metric "service_rss_bytes"/);
  });

  it('the shipped policies and every policy example in the docs pass --strict', () => {
    const docs = ['README.md', ...['policy', 'config', 'services', 'spooler', 'proxy', 'evidence', 'hil', 'operator-guide', 'runbooks', 'telemetry'].map((d) => `docs/${d}.md`)];
    const r = cli(['policy', 'validate', '--strict', join(REPO, 'policies'), ...docs.map((d) => join(REPO, d))]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('the daemon rejects the same file at load, journaled, and keeps what was in force', async () => {
    const { root } = await fixture.start({ services: [example('leaker', 'leaker.mjs')] });
    const dir = join(root, 'etc/waveos/policies.d');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'dead.yaml'), DEAD_RULES);
    const rejected = await waitFor('policy.rejected', () => events(root, 'policy.rejected')[0], 20_000, 200);
    expect(JSON.stringify(rejected.data)).toMatch(/did you mean \\"leaker\\"/);
  });

  it('the budget resources read metrics a collector really produces', async () => {
    const { root } = await fixture.start({ services: [example('leaker', 'leaker.mjs')], telemetry: { sample_interval: '500ms', collectors: { spool: { interval: '500ms' } } } });
    const names = await waitFor(
      'service_open_fds and spool_bytes',
      () => {
        const body = JSON.parse(cli(['metrics', '--json', '--root', root]).stdout) as { metrics: { name: string; labels: Record<string, string>; value: number }[] };
        const fds = body.metrics.find((m) => m.name === 'service_open_fds' && m.labels.service === 'leaker');
        const spool = body.metrics.find((m) => m.name === 'spool_bytes' && m.labels.source === 'waveos' && m.value > 0);
        return fds && spool ? { fds: fds.value, spool: spool.value } : undefined;
      },
      30_000,
      250,
    );
    // stdin, stdout, stderr at least; the daemon's own log has been spooled.
    expect(names.fds).toBeGreaterThanOrEqual(3);
    expect(names.spool).toBeGreaterThan(0);
  });
});
