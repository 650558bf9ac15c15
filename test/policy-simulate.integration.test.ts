import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { METRICS_CSV_HEADER, sampleRow } from '../daemon/artifacts/index.js';
import { MetricExport } from '../daemon/artifacts/metric-export.js';
import Database from 'better-sqlite3';
import { FakeClock, ensureLayout, pathsFor, silentLogger } from '../daemon/core/index.js';
import { Journal, type MetricSample } from '../daemon/journal/index.js';
import { PolicyRuntime } from '../daemon/policy-runtime/index.js';
import { cli, removeRoot, tempRoot } from './helpers/daemon.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) removeRoot(r);
});

const POLICY = `policy_version: eq
rules:
  - { id: leaker-rss, kind: budget, service: leaker, resource: rss, limit: 64MiB, for: 5s, cooldown: 30s, action: restart }
  - { id: restart-limit, kind: rate_limit, flow: service.restart, limit: 1, per: 5m, burst: 2 }
  - id: hot
    kind: threshold
    metric: board.temp_c
    op: ">"
    value: 80
    for: 3s
    clear: { op: "<", value: 70, for: 2s }
    actions: [{ type: emit_event, severity: warning }]
    on_clear: [{ type: emit_event, severity: info, kind: policy.cooled }]
  - { id: err-breaker, kind: breaker, trigger: { metric: app.errors, op: ">", value: 5 }, threshold: 3, window: 20s, open_for: 15s, probe: 10s, mode: safe }
  - { id: safe-warm, kind: threshold, metric: board.temp_c, op: ">", value: 60, modes: [safe], cooldown: 5s, repeat: true, actions: [{ type: emit_event, severity: notice, kind: policy.safe_warm }] }
`;

/** Ten minutes of a small board at 1 Hz: a leaking service, a temperature wave, two bursts of errors. */
function samplesAt(s: number, ts: number): MetricSample[] {
  const mib = 1024 * 1024;
  const errors = [100, 105, 110, 130, 400, 402, 404].includes(s) ? 10 : s % 5;
  return [
    { ts_ms: ts, name: 'service_rss_bytes', value: (20 + (s % 120)) * mib, unit: 'bytes', labels: { service: 'leaker' } },
    { ts_ms: ts, name: 'service_rss_bytes', value: 30 * mib + (s % 13) * 1000, unit: 'bytes', labels: { service: 'web' } },
    { ts_ms: ts, name: 'board.temp_c', value: Math.round((70 + 20 * Math.sin((2 * Math.PI * s) / 100)) * 10) / 10, unit: 'celsius', labels: { zone: 'cpu' } },
    { ts_ms: ts, name: 'app.errors', value: errors, unit: 'count', labels: {} },
  ];
}

interface Seen {
  seq: number;
  ts: string;
  rule_id: string;
  action: unknown;
  mode: string;
}

describe('policy simulate', () => {
  it('replaying the metrics.csv a live run recorded gives the decisions the live run made', () => {
    const root = tempRoot();
    roots.push(root);
    const policyFile = join(root, 'eq.yaml');
    writeFileSync(policyFile, POLICY);

    // The live run: wall and monotonic clocks far apart, samples delivered in pairs 37 ms late, ticks in between.
    const clock = new FakeClock(Date.UTC(2026, 2, 1, 8, 0, 0), 123_456);
    const journal = Journal.openWriter(join(root, 'j.db'), { clock, runId: 'live', bootId: 'b' });
    const seen: Seen[] = [];
    const rt = new PolicyRuntime({
      clock,
      log: silentLogger(),
      dirs: [root],
      tickIntervalMs: 1000,
      watch: false,
      emit: (e) => {
        const d = e.data ?? {};
        if (d.decision_seq !== undefined) {
          seen.push({ seq: d.decision_seq as number, ts: d.decision_ts as string, rule_id: d.rule_id as string, action: d.action, mode: d.mode as string });
        }
      },
      execute: (d) => void seen.push({ seq: d.seq, ts: new Date(d.ts_ms).toISOString(), rule_id: d.rule_id, action: d.action, mode: d.mode }),
    });
    expect(rt.load().status).toBe('reloaded');
    let pending: MetricSample[] = [];
    for (let s = 0; s < 600; s++) {
      const batch = samplesAt(s, clock.now());
      journal.appendSamples(batch);
      pending.push(...batch);
      if (s % 2 === 1) {
        clock.advance(37);
        rt.observe(pending);
        pending = [];
        clock.advance(263);
      } else clock.advance(300);
      rt.tick();
      clock.advance(300);
      rt.tick();
      clock.advance(s % 2 === 1 ? 400 : 400);
    }
    rt.observe(pending);
    const kinds = new Set(seen.map((d) => (d.action as { type: string; kind?: string }).kind ?? (d.action as { type: string }).type));
    // The scenario exercises every path: budget restarts and their rate limit, hysteresis, a breaker round trip, mode-limited rules.
    for (const k of ['restart_service', 'policy.suppressed', 'policy.alert', 'policy.cooled', 'policy.breaker_open', 'policy.breaker_half_open', 'policy.breaker_closed', 'set_mode', 'policy.safe_warm']) {
      expect([...kinds], k).toContain(k);
    }

    // Record through the artifact CSV format, exactly as the exporter writes metrics.csv.
    const csv = join(root, 'metrics.csv');
    let recorded = METRICS_CSV_HEADER;
    new MetricExport(journal, undefined).pending({ metrics_id: 0 }, (rows) => (recorded += rows.map(sampleRow).join('')));
    writeFileSync(csv, recorded);
    journal.close();

    const r = cli(['policy', 'simulate', policyFile, '--metrics', csv, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const sim = JSON.parse(r.stdout) as { samples: number; end_mode: string; decisions: Seen[] };
    expect(sim.samples).toBe(2400);
    const simple = sim.decisions.map((d) => ({ seq: d.seq, ts: d.ts, rule_id: d.rule_id, action: d.action, mode: d.mode }));
    seen.sort((a, b) => a.seq - b.seq);
    expect(simple).toEqual(seen);
    expect(sim.end_mode).toBe(rt.mode);

    // The text form prints the same decisions in order, with the mode after each.
    const text = cli(['policy', 'simulate', policyFile, '--metrics', csv]);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n').filter((l) => /^\d{4}-/.test(l));
    expect(lines).toHaveLength(seen.length);
    expect(text.stdout).toMatch(/mode at the end: normal; time in modes: normal .*safe/);
  });

  it('replays the journal\'s own history (--since/--until, through the history reader) to the decisions its metrics.csv gives; a corrupt chunk is reported and left out', () => {
    const root = tempRoot();
    roots.push(root);
    const policyFile = join(root, 'eq.yaml');
    writeFileSync(policyFile, POLICY);
    const paths = pathsFor(root);
    ensureLayout(paths);
    const start = Date.UTC(2026, 2, 1, 8, 0, 0);
    const clock = new FakeClock(start, 123_456);
    const journal = Journal.openWriter(paths.db, { clock, runId: 'live', bootId: 'b' });
    for (let s = 0; s < 600; s++) {
      journal.appendSamples(samplesAt(s, clock.now()));
      clock.advance(1000);
    }
    const csv = join(root, 'metrics.csv');
    let recorded = METRICS_CSV_HEADER;
    new MetricExport(journal, undefined).pending({ metrics_id: 0 }, (rows) => (recorded += rows.map(sampleRow).join('')));
    writeFileSync(csv, recorded);
    journal.close();

    type Sim = { samples: number; end_mode: string; corrupt_chunks?: number; journal?: string; decisions: Seen[] };
    const fromCsv = cli(['policy', 'simulate', policyFile, '--metrics', csv, '--json']);
    expect(fromCsv.code).toBe(0);
    const want = JSON.parse(fromCsv.stdout) as Sim;
    const window = ['--since', new Date(start - 60_000).toISOString(), '--until', new Date(start + 3_600_000).toISOString(), '--root', root];
    const r = cli(['policy', 'simulate', policyFile, ...window, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = JSON.parse(r.stdout) as Sim;
    expect(got.samples).toBe(2400);
    expect(got.journal).toBe(paths.db);
    expect(got.corrupt_chunks).toBe(0);
    expect(got.decisions.length).toBeGreaterThan(10);
    expect(got.decisions).toEqual(want.decisions);
    expect(got.end_mode).toBe(want.end_mode);
    // Half the window: only its samples.
    const half = JSON.parse(cli(['policy', 'simulate', policyFile, '--since', new Date(start).toISOString(), '--until', new Date(start + 299_999).toISOString(), '--root', root, '--json']).stdout) as Sim;
    expect(half.samples).toBe(1200);

    // One stored chunk's bytes damaged: its samples are left out, with a warning, never read as data.
    const db = new Database(paths.db);
    const victim = db.prepare('SELECT id, count, data FROM chunks ORDER BY id LIMIT 1').get() as { id: number; count: number; data: Buffer };
    const bad = Buffer.from(victim.data);
    bad[bad.length - 10] = (bad[bad.length - 10] as number) ^ 0xff;
    db.prepare('UPDATE chunks SET data = ? WHERE id = ?').run(bad, victim.id);
    db.close();
    const c = cli(['policy', 'simulate', policyFile, ...window, '--json']);
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/warning: a metric chunk of .* failed its check \(checksum\) and is left out/);
    const damaged = JSON.parse(c.stdout) as Sim;
    expect(damaged.corrupt_chunks).toBe(1);
    expect(damaged.samples).toBe(2400 - victim.count);

    // The text form and the usage errors.
    const text = cli(['policy', 'simulate', policyFile, '--since', '10m', '--root', root]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/replaying 0 samples/);
    expect(cli(['policy', 'simulate', policyFile, '--metrics', csv, '--since', '1h', '--root', root]).stderr).toMatch(/not both/);
    expect(cli(['policy', 'simulate', policyFile, '--since', '1h', '--root', join(root, 'nowhere')]).stderr).toMatch(/no journal to replay/);
  });

  it('bad input to simulate is a located error with exit 2', () => {
    const root = tempRoot();
    roots.push(root);
    const policyFile = join(root, 'p.yaml');
    writeFileSync(policyFile, 'policy_version: 1\n');
    const csv = join(root, 'm.csv');
    writeFileSync(csv, `${METRICS_CSV_HEADER}2026-01-01T00:00:00.000Z,m,1,,\n2026-01-01T00:00:01.000Z,m,x,,\n`);
    const r = cli(['policy', 'simulate', policyFile, '--metrics', csv]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/m\.csv:3:1: expected a number in the value column, got "x"/);
    expect(cli(['policy', 'simulate', policyFile]).code).toBe(2);
    expect(cli(['policy', 'simulate', join(root, 'nope.yaml'), '--metrics', csv]).stderr).toMatch(/nope\.yaml: cannot read the policy: no such file/);
  });
});
