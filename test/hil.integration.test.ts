import { describe, expect, it } from 'vitest';
import { summarize } from '../hil-sim/report.js';
import { type ScenarioName, runScenario } from '../hil-sim/scenarios.js';

// The short deterministic HIL set: one scenario of each fault class, fixed seeds, with every invariant checked
// after each fault. Long runs: `npm run hil -- --scenario NAME --seed N --duration D` (docs/hil.md).
async function run(name: ScenarioName, count: number, durationMs: number, seed = 1) {
  const r = await runScenario(name, { seed, count, durationMs, recoveryBoundMs: 30_000 });
  expect(r.violations, summarize(r)).toEqual([]);
  expect(r.faults_injected).toBeGreaterThan(0);
  return r;
}

describe('HIL short set', () => {
  it('kill-storm: SIGKILL of the daemon at seeded instants under CLI bursts and a log flood', { timeout: 120_000 }, async () => {
    const r = await run('kill-storm', 3, 90_000, 11);
    expect(r.faults_injected).toBe(3);
    expect(r.checks_by_invariant['acked-events-kept']).toBe(3);
    expect(r.recovery_ms.count).toBe(3);
  });

  it('install-interrupt: a kill after every state of the install machine, then old or new and never a mix', { timeout: 240_000 }, async () => {
    const r = await run('install-interrupt', 8, 200_000, 15);
    expect(r.interrupted_installs).toBe(8);
    expect(r.checks_by_invariant['bundle-slots-whole-at-kill']).toBe(8);
    expect(r.checks_by_invariant['bundle-old-or-new-at-kill']).toBe(8);
    // The first seven walk received → committed in order; the eighth is a broken payload killed after its rollback.
    expect(r.checks_by_invariant['received-install-completed']).toBe(7);
    expect(r.checks_by_invariant['broken-install-rolled-back']).toBe(1);
  });

  it('service-faults: crash loop, hang, leak and flood, then a daemon kill', { timeout: 120_000 }, async () => {
    const r = await run('service-faults', 1, 9_000, 12);
    expect(r.faults_by_kind['service-crash']).toBeGreaterThanOrEqual(2);
    expect(r.faults_by_kind['service-hang']).toBeGreaterThanOrEqual(1);
    expect(r.faults_by_kind['service-leak']).toBeGreaterThanOrEqual(1);
  });

  it('bad-inputs: fuzzed API requests, broken and missing configs, a missing secret', { timeout: 150_000 }, async () => {
    const r = await run('bad-inputs', 6, 30_000, 13);
    expect(r.checks_by_invariant['api-no-5xx']).toBeGreaterThanOrEqual(1);
    expect(r.checks_by_invariant['bad-config-refused']).toBeGreaterThanOrEqual(5);
    expect(r.checks_by_invariant['state-unchanged-after-refusal']).toBeGreaterThanOrEqual(6);
    // A damaged journal is moved aside byte for byte and a missing one is said; the daemon comes back each time.
    expect(r.checks_by_invariant['journal-corrupted-recorded']).toBe(1);
    expect(r.checks_by_invariant['damaged-journal-kept']).toBe(1);
    expect(r.checks_by_invariant['journal-missing-recorded']).toBe(1);
  });

  it('chaos: injected EIO/ENOSPC, stalls, collector and uplink failures; every degradation stated, nothing acknowledged lost', { timeout: 150_000 }, async () => {
    const r = await run('chaos', 20, 20_000, 17);
    expect(r.checks_by_invariant['chaos-point-reached']).toBe(6);
    expect(r.checks_by_invariant['acked-proxy-requests-delivered']).toBe(1);
    expect(r.checks_by_invariant['artifacts-parse']).toBeGreaterThanOrEqual(3);
    const injected = (r.details.chaos as { injected: Record<string, number> }).injected;
    expect(injected['artifacts.write:EIO']).toBeGreaterThan(0);
    expect(injected['uplink:fail']).toBeGreaterThan(0);
  });

  it('disk-full: the root fills up; reads go on, durable actions are refused clearly, freed space brings it all back', { timeout: 120_000 }, async () => {
    const r = await run('disk-full', 1, 6_000, 18);
    for (const k of ['disk-full-daemon-keeps-running', 'disk-full-status-answers', 'disk-full-reported', 'disk-full-action-refused-clearly', 'disk-full-recovered', 'disk-full-actions-work-again']) {
      expect(r.checks_by_invariant[k], k).toBe(1);
    }
    expect(r.checks_by_invariant['journal-verify']).toBe(1);
  });

  it('clock-jump: the wall clock steps forward and back, running and while down; recorded, recovery and telemetry go on', { timeout: 200_000 }, async () => {
    const r = await run('clock-jump', 4, 150_000, 3);
    expect(r.faults_injected).toBe(4);
    expect(r.checks_by_invariant['restarts-continue-after-clock-jump']).toBe(4);
    expect((r.checks_by_invariant['clock-jump-recorded'] ?? 0) + (r.checks_by_invariant['clock-behind-journal-recorded'] ?? 0)).toBeGreaterThanOrEqual(3);
  });

  it('fsync-audit: every commit rename and every acknowledged action is durable', { timeout: 150_000 }, async () => {
    const r = await run('fsync-audit', 1, 5_000, 14);
    expect(Object.keys(r.checks_by_invariant).filter((k) => k.startsWith('fsync-audit: rename')).length).toBeGreaterThanOrEqual(5);
    expect(r.checks_by_invariant['fsync-audit: wal synced before an action is acknowledged']).toBeGreaterThanOrEqual(3);
  });
});
