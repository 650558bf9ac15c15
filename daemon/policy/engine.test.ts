import { describe, expect, it } from 'vitest';
import { FakeClock } from '../core/index.js';
import { PolicyEngine } from './engine.js';
import { parsePolicyText } from './parse.js';
import { type PolicySet, buildPolicySet } from './policy-set.js';
import type { Decision, PolicySample } from './types.js';

function policy(...texts: string[]): PolicySet {
  return buildPolicySet(texts.map((t, i) => parsePolicyText(t, `/p/p${i}.yaml`)));
}

function setup(text: string, mode?: string) {
  const clock = new FakeClock();
  const engine = new PolicyEngine({ clock, policy: policy(text), mode });
  const all: Decision[] = [];
  // Caps and other start-up decisions come with the first call.
  all.push(...engine.tick());
  const sample = (name: string, value: number, labels: Record<string, string> = {}, unit = ''): Decision[] => {
    const d = engine.observe([{ ts_ms: clock.now(), name, value, unit, labels }]);
    all.push(...d);
    return d;
  };
  const step = (ms: number): void => clock.advance(ms);
  return { clock, engine, sample, step, all };
}

const types = (ds: Decision[]) => ds.map((d) => d.action.type);

describe('threshold rules', () => {
  const text = `
policy_version: 1
rules:
  - id: hot
    kind: threshold
    metric: board.temp_c
    labels: { zone: cpu* }
    op: ">"
    value: 80
    for: 5s
    clear: { op: "<", value: 70 }
    cooldown: 1m
    actions:
      - { type: emit_event, severity: error, message: too hot }
    on_clear:
      - { type: emit_event, severity: info, kind: policy.cooled }
`;

  it('fires only after the condition held for the whole `for` duration', () => {
    const { sample, step } = setup(text);
    expect(sample('board.temp_c', 85, { zone: 'cpu0' }, 'celsius')).toEqual([]);
    step(3000);
    expect(sample('board.temp_c', 86, { zone: 'cpu0' }, 'celsius')).toEqual([]);
    step(1000);
    // A dip below the threshold restarts the count.
    expect(sample('board.temp_c', 79, { zone: 'cpu0' }, 'celsius')).toEqual([]);
    step(1000);
    sample('board.temp_c', 90, { zone: 'cpu0' }, 'celsius');
    step(4000);
    expect(sample('board.temp_c', 90, { zone: 'cpu0' }, 'celsius')).toEqual([]);
    step(1000);
    const d = sample('board.temp_c', 91, { zone: 'cpu0' }, 'celsius');
    expect(d).toHaveLength(1);
    const [x] = d as [Decision];
    expect(x.rule_id).toBe('hot');
    expect(x.action).toEqual({ type: 'emit_event', severity: 'error', kind: 'policy.alert', message: 'too hot' });
    expect(x.data).toMatchObject({ rule_id: 'hot', observed: 91, threshold: 80, op: '>', for_ms: 5000, window_ms: 5000, labels: { zone: 'cpu0' } });
    expect(x.reason).toMatch(/board\.temp_c\{zone=cpu0\} was 91 celsius, > 80 celsius for 5 s/);
  });

  it('ignores series the label selector does not match', () => {
    const { sample, step } = setup(text);
    for (let i = 0; i < 10; i++) {
      expect(sample('board.temp_c', 99, { zone: 'gpu' })).toEqual([]);
      step(1000);
    }
  });

  it('hysteresis: stays fired between the clear and trigger levels, clears below the clear level', () => {
    const { sample, step } = setup(text);
    sample('board.temp_c', 90, { zone: 'cpu0' });
    step(5000);
    expect(sample('board.temp_c', 90, { zone: 'cpu0' })).toHaveLength(1);
    step(1000);
    expect(sample('board.temp_c', 75, { zone: 'cpu0' })).toEqual([]);
    step(1000);
    const cleared = sample('board.temp_c', 65, { zone: 'cpu0' });
    expect(cleared.map((d) => d.action)).toEqual([{ type: 'emit_event', severity: 'info', kind: 'policy.cooled' }]);
    expect(cleared[0]?.reason).toMatch(/cleared/);
  });

  it('cooldown: a second breach within the cooldown waits for it to pass', () => {
    const { sample, step, all } = setup(text);
    sample('board.temp_c', 90, { zone: 'cpu0' });
    step(5000);
    sample('board.temp_c', 90, { zone: 'cpu0' });
    step(1000);
    sample('board.temp_c', 60, { zone: 'cpu0' });
    // Breach again at once: for=5s passes at +12s, but the cooldown (60 s from +5 s) holds it back.
    for (let i = 0; i < 50; i++) {
      step(1000);
      sample('board.temp_c', 95, { zone: 'cpu0' });
    }
    const fired = all.filter((d) => d.action.type === 'emit_event' && d.action.kind === 'policy.alert');
    expect(fired).toHaveLength(1);
    step(10_000);
    const again = sample('board.temp_c', 95, { zone: 'cpu0' });
    expect(again).toHaveLength(1);
    expect(again[0]?.data.since_last_firing_ms).toBeGreaterThanOrEqual(60_000);
  });

  it('each series has its own state', () => {
    const { sample, step } = setup(text);
    sample('board.temp_c', 90, { zone: 'cpu0' });
    step(5000);
    sample('board.temp_c', 90, { zone: 'cpu1' });
    expect(sample('board.temp_c', 90, { zone: 'cpu0' })).toHaveLength(1);
    step(5000);
    expect(sample('board.temp_c', 90, { zone: 'cpu1' }).map((d) => d.data.labels)).toEqual([{ zone: 'cpu1' }]);
  });

  it('repeat: fires again each cooldown while the condition holds', () => {
    const { sample, step, all } = setup(`
policy_version: 1
rules:
  - id: r
    kind: threshold
    metric: m
    op: ">="
    value: 1
    cooldown: 10s
    repeat: true
    actions: [{ type: webhook }]
`);
    for (let i = 0; i <= 30; i++) {
      sample('m', 1);
      step(1000);
    }
    expect(all.filter((d) => d.rule_id === 'r').map((d) => d.at_ms - (all[0]?.at_ms ?? 0))).toHaveLength(4);
  });

  it('the service of a service action comes from the series label when not named', () => {
    const { sample } = setup(`
policy_version: 1
rules:
  - id: r
    kind: threshold
    metric: service.health
    op: "=="
    value: 0
    actions: [{ type: restart_service }]
`);
    expect(sample('service.health', 0, { service: 'web' }).map((d) => d.action)).toEqual([{ type: 'restart_service', service: 'web' }]);
    const unresolved = sample('service.health', 0, {});
    expect(unresolved.map((d) => d.action)).toEqual([{ type: 'emit_event', severity: 'warning', kind: 'policy.action_unresolved' }]);
  });

  it('rules limited to modes are evaluated only in those modes', () => {
    const { sample, engine, clock } = setup(`
policy_version: 1
rules:
  - id: r
    kind: threshold
    metric: m
    op: ">"
    value: 0
    modes: [safe]
    actions: [{ type: emit_event }]
`);
    expect(sample('m', 5)).toEqual([]);
    engine.observeEvent({ type: 'mode_changed', ts_ms: clock.now(), mode: 'safe', by: 'operator:alice' });
    expect(sample('m', 5)).toHaveLength(1);
  });
});

describe('resource budgets', () => {
  const text = (action: string, extra = '') => `
policy_version: 1
rules:
  - id: leaker-rss
    kind: budget
    service: leaker
    resource: rss
    limit: 100MiB
    for: 3s
    action: ${action}
${extra}`;

  it.each([
    ['restart', { type: 'restart_service', service: 'leaker' }],
    ['stop', { type: 'stop_service', service: 'leaker' }],
    ['warn', { type: 'emit_event', severity: 'warning', kind: 'policy.budget_exceeded' }],
    ['throttle', { type: 'apply_cap', service: 'leaker', nice: 10, cpu_weight: 20 }],
  ])('over budget for the `for` duration leads to %s', (action, expected) => {
    const { sample, step } = setup(text(action));
    const mib = 1024 * 1024;
    expect(sample('service.rss_bytes', 150 * mib, { service: 'leaker' }, 'bytes')).toEqual([]);
    step(3000);
    expect(sample('service.rss_bytes', 50 * mib, { service: 'other' }, 'bytes')).toEqual([]);
    const d = sample('service.rss_bytes', 160 * mib, { service: 'leaker' }, 'bytes');
    expect(d.map((x) => x.action)).toEqual([expected]);
    expect(d[0]?.reason).toMatch(/leaker uses 160 MiB of rss, over its budget of 100 MiB for 3 s/);
    expect(d[0]?.data).toMatchObject({ budget: { service: 'leaker', resource: 'rss', limit: 100 * mib, on_exceed: action }, observed: 160 * mib });
  });

  it('each resource reads its own metric', () => {
    const { sample } = setup(`
policy_version: 1
rules:
  - { id: cpu, kind: budget, service: s, resource: cpu_share, limit: 0.5, action: warn }
  - { id: fds, kind: budget, service: s, resource: open_files, limit: 100, action: warn }
  - { id: spool, kind: budget, service: s, resource: spool_bytes, limit: 1MiB, action: warn }
`);
    expect(sample('service.cpu_ratio', 0.7, { service: 's' }, 'ratio').map((d) => d.rule_id)).toEqual(['cpu']);
    expect(sample('service.open_fds', 101, { service: 's' }).map((d) => d.rule_id)).toEqual(['fds']);
    expect(sample('spool.bytes', 2_000_000, { source: 's' }, 'bytes').map((d) => d.rule_id)).toEqual(['spool']);
  });
});

describe('rate limits', () => {
  const text = `
policy_version: 1
rules:
  - id: restarts
    kind: rate_limit
    flow: service.restart
    limit: 3
    per: 1m
  - id: logs
    kind: rate_limit
    flow: log.lines
    limit: 100
    per: 1s
    burst: 200
    on_exceeded: [{ type: emit_event, severity: notice, kind: spool.suppressing }]
  - id: rss
    kind: threshold
    metric: rss
    op: ">"
    value: 10
    cooldown: 1s
    repeat: true
    actions: [{ type: restart_service }]
`;

  it('admit() allows the budget, refuses the rest and reports the refusal once', () => {
    const { engine, step } = setup(text);
    const r = [1, 2, 3, 4, 5].map(() => engine.admit('service.restart', 'web'));
    expect(r.map((x) => x.allowed)).toEqual([true, true, true, false, false]);
    expect(r[3]).toMatchObject({ limited: true, rule_id: 'restarts', retry_after_ms: 20_000 });
    const ds = engine.drain();
    expect(ds).toHaveLength(1);
    expect(ds[0]?.action).toEqual({ type: 'emit_event', severity: 'warning', kind: 'policy.rate_limited' });
    expect(ds[0]?.reason).toMatch(/service\.restart for web refused by rate limit restarts: more than 3 per 1 min/);
    // Another key has its own bucket.
    expect(engine.admit('service.restart', 'db').allowed).toBe(true);
    step(20_000);
    expect(engine.admit('service.restart', 'web').allowed).toBe(true);
    expect(engine.admit('service.restart', 'web').allowed).toBe(false);
    expect(engine.drain()).toHaveLength(1);
  });

  it('a flow with no rule is not limited; costs take several tokens at once', () => {
    const { engine } = setup(text);
    expect(engine.admit('proxy.request', 'x')).toEqual({ allowed: true, limited: false, flow: 'proxy.request', key: 'x' });
    expect(engine.admit('log.lines', 'app', 150).allowed).toBe(true);
    expect(engine.admit('log.lines', 'app', 100).allowed).toBe(false);
    expect(engine.drain().map((d) => d.action)).toEqual([{ type: 'emit_event', severity: 'notice', kind: 'spool.suppressing' }]);
  });

  it("the policy's own restarts are counted against the flow and suppressed beyond it", () => {
    const { sample, step, all } = setup(text);
    for (let i = 0; i < 10; i++) {
      sample('rss', 20, { service: 'web' });
      step(1000);
    }
    const restarts = all.filter((d) => d.action.type === 'restart_service');
    const suppressed = all.filter((d) => d.action.type === 'emit_event' && d.action.kind === 'policy.suppressed');
    expect(restarts).toHaveLength(3);
    expect(suppressed).toHaveLength(7);
    expect(suppressed[0]?.data.suppressed_action).toEqual({ type: 'restart_service', service: 'web' });
    expect(restarts[0]?.data.rate_limit).toMatchObject({ rule_id: 'restarts', flow: 'service.restart', key: 'web' });
  });
});

describe('priority caps', () => {
  const text = `
policy_version: 1
rules:
  - { id: batch-nice, kind: cap, service: batch, nice: 10, ionice: { class: idle } }
  - { id: batch-cpu, kind: cap, service: batch, cpu_weight: 10, cpu_max: { quota: 20ms, period: 100ms }, modes: [degraded, safe] }
`;
  it('are decided at start for the current mode, and applied or lifted on mode changes', () => {
    const { all, engine, clock } = setup(text);
    expect(all.map((d) => d.action)).toEqual([{ type: 'apply_cap', service: 'batch', nice: 10, ionice: { class: 'idle' }, cpu_weight: undefined, cpu_max: undefined }]);
    const d = engine.observeEvent({ type: 'mode_changed', ts_ms: clock.now(), mode: 'degraded' });
    expect(d.map((x) => x.action)).toEqual([
      { type: 'apply_cap', service: 'batch', nice: undefined, ionice: undefined, cpu_weight: 10, cpu_max: { quota: 20, period: 100 } },
    ]);
    expect(d[0]?.reason).toMatch(/cpu\.weight 10, cpu\.max 20 ms per 100 ms/);
    const back = engine.observeEvent({ type: 'mode_changed', ts_ms: clock.now(), mode: 'normal' });
    expect(back.map((x) => x.action)).toEqual([{ type: 'apply_cap', service: 'batch', reset: true }]);
  });
});

describe('modes', () => {
  const text = `
policy_version: 1
initial_mode: normal
modes:
  normal: { transitions: [degraded, safe] }
  degraded: { transitions: [normal, safe], services: [web, db], feature_flags: { uploads: false } }
  safe:
    transitions: [degraded]
    services: [db]
    on_enter: [{ type: emit_event, severity: critical, kind: mode.safe_entered }, { type: export_evidence, reason: safe-mode }]
    on_exit: [{ type: start_service, service: web }]
rules:
  - { id: to-safe, kind: threshold, metric: go_safe, op: ">", value: 0, actions: [{ type: set_mode, mode: safe }] }
  - { id: to-normal, kind: threshold, metric: go_normal, op: ">", value: 0, actions: [{ type: set_mode, mode: normal }] }
  - { id: to-degraded, kind: threshold, metric: go_degraded, op: ">", value: 0, actions: [{ type: set_mode, mode: degraded }] }
`;

  it('canTransition follows the graph, including forbidden and unknown modes', () => {
    const { engine } = setup(text);
    expect(engine.canTransition('normal', 'safe').allowed).toBe(true);
    expect(engine.canTransition('safe', 'degraded').allowed).toBe(true);
    expect(engine.canTransition('safe', 'normal')).toEqual({ allowed: false, reason: 'the policy does not allow safe → normal (from safe only: degraded)' });
    expect(engine.canTransition('normal', 'party').allowed).toBe(false);
    expect(engine.canTransition('party', 'normal').allowed).toBe(false);
    expect(engine.serviceAllowed('degraded', 'web')).toBe(true);
    expect(engine.serviceAllowed('safe', 'web')).toBe(false);
    expect(engine.serviceAllowed('normal', 'anything')).toBe(true);
  });

  it('a set_mode runs the exit actions, the change, then the entry actions', () => {
    const { engine, sample } = setup(text);
    const d = sample('go_safe', 1);
    expect(types(d)).toEqual(['set_mode', 'emit_event', 'export_evidence']);
    expect(d[0]?.action).toEqual({ type: 'set_mode', mode: 'safe', from: 'normal' });
    expect(d[0]?.data).toMatchObject({ from: 'normal', to: 'safe', services: ['db'] });
    expect(d.every((x) => x.mode === 'safe')).toBe(true);
    expect(engine.mode).toBe('safe');
  });

  it('a forbidden transition is refused with an event and the mode stays', () => {
    const { engine, sample } = setup(text);
    sample('go_safe', 1);
    const d = sample('go_normal', 1);
    expect(d.map((x) => x.action)).toEqual([{ type: 'emit_event', severity: 'warning', kind: 'policy.transition_refused' }]);
    expect(d[0]?.reason).toMatch(/refused: the policy does not allow safe → normal/);
    expect(engine.mode).toBe('safe');
    const e = sample('go_degraded', 1);
    expect(types(e)).toEqual(['start_service', 'set_mode']);
    expect(engine.mode).toBe('degraded');
  });

  it('the mode survives a restart: an engine started with a mode keeps it', () => {
    const { engine } = setup(text, 'degraded');
    expect(engine.mode).toBe('degraded');
    expect(setup(text, 'no-such-mode').engine.mode).toBe('normal');
  });
});

describe('circuit breakers', () => {
  const text = `
policy_version: 1
rules:
  - id: crash-breaker
    kind: breaker
    trigger: { event: service.exit }
    threshold: 3
    window: 1m
    open_for: 30s
    probe: 20s
    mode: safe
    actions: [{ type: webhook, message: crash storm }]
`;

  function exits(engine: PolicyEngine, clock: FakeClock, n: number, every: number, service = 'app'): Decision[] {
    const out: Decision[] = [];
    for (let i = 0; i < n; i++) {
      out.push(...engine.observeEvent({ type: 'service_exit', ts_ms: clock.now(), service, code: 1, signal: null }));
      clock.advance(every);
    }
    return out;
  }

  it('closed → open (safe mode) → half-open → closed (previous mode), each step a decision with numbers', () => {
    const { engine, clock } = setup(text, 'degraded');
    expect(exits(engine, clock, 2, 40_000)).toEqual([]); // 2 within the window, the third comes too late below
    const opened = exits(engine, clock, 2, 1000);
    expect(opened.map((d) => d.action.type)).toEqual(['emit_event', 'set_mode', 'webhook']);
    expect(opened[0]?.data).toMatchObject({ breaker: 'crash-breaker', state: 'open', failures_in_window: 3, threshold: 3, window_ms: 60_000 });
    expect(opened[0]?.reason).toMatch(/breaker crash-breaker opened: 3 failures within 1 min/);
    expect(engine.mode).toBe('safe');
    expect(engine.snapshot().breakers[0]?.state).toBe('open');
    // Open for 30 s from the trip (the trip was 1 s before the clock now).
    clock.advance(28_000);
    expect(engine.tick()).toEqual([]);
    clock.advance(2_000);
    const half = engine.tick();
    expect(half.map((d) => d.action)).toEqual([{ type: 'emit_event', severity: 'notice', kind: 'policy.breaker_half_open' }]);
    expect(engine.snapshot().breakers[0]?.state).toBe('half_open');
    clock.advance(20_000);
    const closed = engine.tick();
    expect(closed.map((d) => d.action)).toEqual([
      { type: 'emit_event', severity: 'notice', kind: 'policy.breaker_closed' },
      { type: 'set_mode', mode: 'degraded', from: 'safe' },
    ]);
    expect(engine.mode).toBe('degraded');
  });

  it('a failure while half-open opens it again; timers fire at their due time even when observed late', () => {
    const { engine, clock } = setup(text);
    const trip = exits(engine, clock, 3, 0);
    const tripAt = trip[0]?.at_ms as number;
    clock.advance(35_000);
    // Nothing ticked: the next observation first fires the half-open at its due time, then counts the failure.
    const d = exits(engine, clock, 1, 0);
    expect(d.map((x) => [x.action.type, x.at_ms - tripAt])).toEqual([
      ['emit_event', 30_000],
      ['emit_event', 35_000],
    ]);
    expect(d[1]?.reason).toMatch(/a failure during the half-open probe/);
    expect(engine.mode).toBe('safe');
    clock.advance(50_000);
    const later = engine.tick();
    expect(later.map((x) => x.at_ms - tripAt)).toEqual([65_000, 85_000, 85_000]);
    expect(engine.mode).toBe('normal');
  });

  it('a metric trigger counts samples over its threshold', () => {
    const { engine, clock, sample, step } = setup(`
policy_version: 1
rules:
  - id: lag
    kind: breaker
    trigger: { metric: daemon.loop_lag_ms, op: ">", value: 500 }
    threshold: 2
    window: 10s
    open_for: 5s
    probe: 5s
    actions: [{ type: emit_event, severity: critical }]
`);
    sample('daemon.loop_lag_ms', 900);
    step(1000);
    sample('daemon.loop_lag_ms', 100);
    step(1000);
    const d = sample('daemon.loop_lag_ms', 800);
    expect(d.map((x) => x.action.type)).toEqual(['emit_event', 'emit_event']);
    expect(engine.mode).toBe('normal');
    void clock;
  });

  it('does not return to the previous mode if something else changed the mode meanwhile', () => {
    const { engine, clock } = setup(text);
    exits(engine, clock, 3, 0);
    engine.observeEvent({ type: 'mode_changed', ts_ms: clock.now(), mode: 'degraded', by: 'operator' });
    clock.advance(60_000);
    const d = engine.tick();
    expect(d.map((x) => x.action.type)).toEqual(['emit_event', 'emit_event']);
    expect(engine.mode).toBe('degraded');
  });
});

describe('time', () => {
  it('a wall-clock jump does not make a `for` pass early', () => {
    const { clock, engine } = setup(`
policy_version: 1
rules:
  - { id: r, kind: threshold, metric: m, op: ">", value: 0, for: 10s, actions: [{ type: emit_event }] }
`);
    const s = (): PolicySample => ({ ts_ms: clock.now(), name: 'm', value: 1, unit: '', labels: {} });
    expect(engine.observe([s()])).toEqual([]);
    clock.advance(1000);
    clock.jumpWall(3_600_000);
    expect(engine.observe([s()])).toEqual([]);
    clock.advance(8000);
    expect(engine.observe([s()])).toEqual([]);
    clock.advance(1000);
    expect(engine.observe([s()])).toHaveLength(1);
  });
});

describe('replacing the policy', () => {
  const a = `
policy_version: 1
rules:
  - { id: keep, kind: threshold, metric: m, op: ">", value: 0, for: 10s, actions: [{ type: emit_event }] }
  - { id: gone, kind: cap, service: s, nice: 5 }
`;
  const b = `
policy_version: 2
rules:
  - { id: keep, kind: threshold, metric: m, op: ">", value: 0, for: 10s, actions: [{ type: emit_event }] }
  - { id: new, kind: threshold, metric: m, op: ">", value: 0, actions: [{ type: emit_event, severity: info }] }
`;
  it('keeps the state of unchanged rules and the mode, lifts removed caps', () => {
    const { engine, sample, step, clock } = setup(a, 'degraded');
    sample('m', 1);
    step(5000);
    const d = engine.replacePolicy(policy(b));
    expect(d.map((x) => x.action)).toEqual([{ type: 'apply_cap', service: 's', reset: true }]);
    expect(engine.version).toBe('p0@2');
    expect(engine.mode).toBe('degraded');
    step(5000);
    expect(sample('m', 1).map((x) => x.rule_id).sort()).toEqual(['keep', 'new']);
    void clock;
  });
});
