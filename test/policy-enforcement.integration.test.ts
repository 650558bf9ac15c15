import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, cli, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';
import { type Ev, events, example, killMarked, writeConfig } from './helpers/services.js';

const MARK = 'WAVEOS_TEST_MARK';
const roots: string[] = [];
const daemons: DaemonProcess[] = [];
afterEach(() => {
  for (const d of daemons.splice(0)) d.proc.kill('SIGKILL');
  for (const r of roots.splice(0)) {
    killMarked(MARK, r);
    removeRoot(r);
  }
});

const POLICY = `policy_version: "e2e.1"
rules:
  - id: leaker-budget
    kind: budget
    service: leaker
    resource: rss
    limit: 40MiB
    for: 1s
    cooldown: 5s
    action: restart
  - id: crash-storm
    kind: breaker
    trigger: { event: service.exited }
    threshold: 3
    window: 20s
    open_for: 3s
    probe: 2s
    mode: safe
    actions:
      - { type: export_evidence, reason: crash-storm }
`;

function first(evs: Ev[], pred: (e: Ev) => boolean, after = 0): Ev | undefined {
  return evs.find((e) => e.seq > after && pred(e));
}

describe('policies enforced by the real daemon', () => {
  it('a leaking service is restarted by its budget; a crash burst trips a breaker into safe mode, non-critical services stop, an incident pack is exported, and the device returns to normal', async () => {
    const root = tempRoot();
    roots.push(root);
    mkdirSync(join(root, 'etc/waveos/policies.d'), { recursive: true });
    writeFileSync(join(root, 'etc/waveos/policies.d/e2e.yaml'), POLICY);
    const env = { env: { [MARK]: root } };
    const config = writeConfig(root, {
      telemetry: { sample_interval: '500ms', prometheus: { enabled: false } },
      recovery: { backoff_initial: '200ms', backoff_max: '1s', jitter: 0, crash_loop: { exits: 1000, window: '1m' } },
      evidence: { window_before: '1m', window_after: '1s' },
      services: [
        example('core', 'healthy.mjs', [], { critical: true, ...env }),
        example('leaker', 'leaker.mjs', ['--kb-per-s', '16384', '--max-mb', '300'], { modes: ['normal', 'degraded'], ...env }),
        example('crasher', 'crasher.mjs', ['--after-ms', '700', '--exit-code', '3'], { modes: ['normal', 'degraded'], ...env }),
      ],
    });
    const d = new DaemonProcess(root, ['--config', config], { [MARK]: root });
    daemons.push(d);
    await d.ready();

    // 1. The budget: leaker goes over 40 MiB for 1 s and is restarted on the policy's say-so.
    const budget = await waitFor('a budget decision for leaker', () => first(events(root, 'policy.'), (e) => e.kind === 'policy.decision' && e.data.rule_id === 'leaker-budget'), 45_000, 300);
    expect(budget.reason).toMatch(/leaker uses .* of rss, over its budget of 40 MiB/);
    expect(budget.data).toMatchObject({ rule_kind: 'budget', policy_version: expect.stringContaining('e2e@e2e.1') });
    const restarted = await waitFor('leaker restarted by the policy', () => first(events(root, 'service.restart'), (e) => e.data.service === 'leaker' && e.source === 'policy:leaker-budget', budget.seq), 20_000, 300);
    expect(restarted.reason).toMatch(/over its budget/);

    // 2. The breaker: three crasher exits within 20 s open it and the device enters safe mode.
    const opened = await waitFor('breaker open', () => first(events(root, 'policy.breaker'), (e) => e.kind === 'policy.breaker_open'), 45_000, 300);
    expect(opened.data).toMatchObject({ threshold: 3 });
    const toSafe = await waitFor('mode safe', () => first(events(root, 'mode.changed'), (e) => e.data.to === 'safe' || e.reason.includes('safe'), opened.seq - 1), 20_000, 300);
    expect(toSafe.source).toMatch(/^policy:crash-storm/);
    // Non-critical services stop in safe mode; the critical one keeps running.
    await waitFor('non-critical services stopped', () => {
      const list = JSON.parse(cli(['service', 'list', '--json', '--root', root]).stdout) as { services: { name: string; state: string }[] };
      const state = Object.fromEntries(list.services.map((s) => [s.name, s.state]));
      return state.core === 'running' && state.leaker !== 'running' && state.crasher !== 'running' ? true : undefined;
    }, 20_000, 300);

    // 3. Quiet through the probe: half-open, closed, and back to normal with the services running again.
    const closed = await waitFor('breaker closed', () => first(events(root, 'policy.breaker'), (e) => e.kind === 'policy.breaker_closed', opened.seq), 45_000, 300);
    expect(first(events(root, 'policy.breaker'), (e) => e.kind === 'policy.breaker_half_open', opened.seq)?.seq ?? Infinity).toBeLessThan(closed.seq);
    await waitFor('mode normal again', () => first(events(root, 'mode.changed'), (e) => e.data.to === 'normal' || / → normal|to normal/.test(e.reason), closed.seq - 1), 20_000, 300);
    expect(JSON.parse(cli(['mode', 'get', '--json', '--root', root]).stdout)).toMatchObject({ mode: 'normal' });

    // 4. The incident pack the breaker asked for exists and verifies offline.
    const dir = join(root, 'var/lib/waveos/evidence');
    const pack = await waitFor('incident evidence pack', () => (existsSync(dir) ? readdirSync(dir).find((f) => f.includes('crash-storm') && f.endsWith('.tar.gz')) : undefined), 45_000, 500);
    const v = cli(['evidence', 'verify', join(dir, pack)]);
    expect(v.code, v.stderr).toBe(0);

    // Every step is an event with a reason and numbers.
    for (const e of [budget, restarted, opened, toSafe, closed]) {
      expect(e.reason.length).toBeGreaterThan(10);
      expect(Object.keys(e.data).length).toBeGreaterThan(0);
    }
    expect((await d.kill('SIGTERM')).code).toBe(143);
  }, 180_000);
});
