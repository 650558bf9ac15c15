import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../core/index.js';
import { PolicyEngine } from './engine.js';
import { parsePolicyText } from './parse.js';
import { buildPolicySet } from './policy-set.js';
import type { Observation, PolicySample } from './types.js';

const EVERY_KIND = `
policy_version: prop
modes:
  normal: { transitions: [degraded, safe] }
  degraded: { transitions: [normal, safe], services: [a*] }
  safe: { transitions: [degraded], services: [b], on_enter: [{ type: export_evidence }], on_exit: [{ type: start_service, service: a }] }
rules:
  - { id: t1, kind: threshold, metric: m, labels: { service: "*" }, op: ">", value: 5, for: 2s, clear: { op: "<", value: 1, for: 1s }, cooldown: 3s, repeat: true, actions: [{ type: restart_service }, { type: set_mode, mode: degraded }], on_clear: [{ type: set_mode, mode: normal }] }
  - { id: t2, kind: threshold, metric: m, op: "==", value: 0, actions: [{ type: stop_service }, { type: webhook }], modes: [degraded] }
  - { id: t3, kind: threshold, metric: n, op: "!=", value: 1, actions: [{ type: set_mode, mode: safe }, { type: request_reboot }] }
  - { id: b1, kind: budget, service: a, resource: rss, limit: 1KiB, for: 1s, action: throttle }
  - { id: b2, kind: budget, service: b, resource: cpu_share, limit: 0.5, action: restart, cooldown: 1s, repeat: true }
  - { id: r1, kind: rate_limit, flow: service.restart, limit: 2, per: 5s }
  - { id: r2, kind: rate_limit, flow: device.reboot, limit: 1, per: 1h, per_key: false }
  - { id: c1, kind: cap, service: a, nice: 5, modes: [safe] }
  - { id: k1, kind: breaker, trigger: { event: service.exit }, threshold: 2, window: 10s, open_for: 3s, probe: 2s, mode: safe, on_close: [{ type: emit_event, severity: info }] }
  - { id: k2, kind: breaker, trigger: { metric: n, op: ">", value: 100 }, threshold: 3, window: 5s, open_for: 1s, probe: 1s, mode: degraded }
`;

const label = fc.constantFrom('a', 'b', 'a1', '', '*', 'x=y;z', '"q"');
const sampleArb = fc.record({
  dt: fc.integer({ min: 0, max: 5_000 }),
  wallJump: fc.integer({ min: -100_000, max: 100_000 }),
  ts_skew: fc.integer({ min: -1e7, max: 1e7 }),
  name: fc.constantFrom('m', 'n', 'service_rss_bytes', 'service_cpu_ratio', 'other', ''),
  value: fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, 0, 1, 5, 6, 100, 101, 2048)),
  labels: fc.dictionary(fc.constantFrom('service', 'source', 'zone', '__proto__', 'constructor'), label, { maxKeys: 3 }),
});
const stepArb = fc.oneof(
  { weight: 6, arbitrary: sampleArb.map((s) => ({ k: 'sample' as const, ...s })) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exit' as const), service: label, dt: fc.integer({ min: 0, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('mode' as const), mode: fc.constantFrom('normal', 'degraded', 'safe', 'nope'), dt: fc.nat(3000) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tick' as const), dt: fc.nat(20_000) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('admit' as const), flow: fc.constantFrom('service.restart', 'device.reboot', 'x'), key: label, cost: fc.integer({ min: 0, max: 5 }), dt: fc.nat(2000) }) },
);

describe('property: the evaluator', () => {
  const policy = buildPolicySet([parsePolicyText(EVERY_KIND, '/p/all.yaml')]);

  it('never throws on any metric stream, and every decision is explained', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 200 }), (steps) => {
        const clock = new FakeClock();
        const engine = new PolicyEngine({ clock, policy });
        const out = [];
        for (const s of steps) {
          clock.advance(s.dt);
          switch (s.k) {
            case 'sample': {
              if (s.wallJump !== 0) clock.jumpWall(s.wallJump);
              const sample: PolicySample = { ts_ms: clock.now() + s.ts_skew, name: s.name, value: s.value, unit: 'bytes', labels: s.labels };
              out.push(...engine.observe([sample]));
              break;
            }
            case 'exit': {
              const o: Observation = { type: 'service_exit', ts_ms: clock.now(), service: s.service, code: 1, signal: null };
              out.push(...engine.observeEvent(o));
              break;
            }
            case 'mode':
              out.push(...engine.observeEvent({ type: 'mode_changed', ts_ms: clock.now(), mode: s.mode }));
              break;
            case 'tick':
              out.push(...engine.tick());
              break;
            case 'admit':
              engine.admit(s.flow, s.key, s.cost);
              out.push(...engine.drain());
              break;
          }
        }
        engine.snapshot();
        for (const d of out) {
          expect(d.reason.length).toBeGreaterThan(10);
          expect(d.data.rule_id).toBe(d.rule_id);
          expect(Number.isFinite(d.at_ms)).toBe(true);
        }
        for (let i = 1; i < out.length; i++) expect((out[i]?.seq as number) > (out[i - 1]?.seq as number)).toBe(true);
        expect(['normal', 'degraded', 'safe']).toContain(engine.mode);
      }),
      { numRuns: 300 },
    );
  });
});

describe('property: rate limits', () => {
  it('admit() through a policy keeps to the same bound per key, whatever the wall clock does', () => {
    const policy = buildPolicySet([parsePolicyText('policy_version: 1\nrules:\n  - { id: r, kind: rate_limit, flow: f, limit: 3, per: 10s, burst: 4 }\n', '/p/r.yaml')]);
    fc.assert(
      fc.property(fc.array(fc.record({ dt: fc.nat(4000), jump: fc.integer({ min: -1e6, max: 1e6 }), key: fc.constantFrom('a', 'b') }), { maxLength: 200 }), (calls) => {
        const clock = new FakeClock();
        const engine = new PolicyEngine({ clock, policy });
        const got: Record<string, number[]> = { a: [], b: [] };
        for (const c of calls) {
          clock.advance(c.dt);
          clock.jumpWall(c.jump);
          if (engine.admit('f', c.key).allowed) got[c.key]?.push(clock.monoMs());
        }
        for (const ts of Object.values(got)) {
          for (let i = 0; i < ts.length; i++) {
            for (let j = i; j < ts.length; j++) {
              expect(j - i + 1).toBeLessThanOrEqual(4 + (3 / 10_000) * ((ts[j] as number) - (ts[i] as number)) + 1e-6);
            }
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
