/*
 * The rollout's decisions, without I/O: given a rollout's state and the numbers of its current wave, what
 * happens next and why. The engine (engine.ts) gathers the numbers, calls decide(), and records the decision
 * and its effects in one transaction.
 */
import { z } from 'zod';

/** "1%", "0.5%" or a device count "3". */
const share = z.string().regex(/^(\d+(\.\d+)?%|\d+)$/, 'a percentage such as 10% or a device count such as 3');

export const planSchema = z.object({
  canary: share.default('1%'),
  /** Cumulative shares of the cohort after each wave; the last must be 100%. */
  waves: z.array(share).min(1).default(['10%', '50%', '100%']),
  /** The share of a wave's devices that may fail before the rollout halts. */
  max_failures: z.string().regex(/^\d+(\.\d+)?%$/, 'a percentage such as 2%').default('2%'),
  /** The lowest allowed difference of mean health (wave − control), in health points; -10 = ten points worse. */
  min_health_delta: z.number().default(-10),
  soak_ms: z.number().int().nonnegative().default(600_000),
  /** After a halt, put the halted wave back on the last good desired state (rollback) or leave it (hold). */
  on_halt: z.enum(['rollback', 'hold']).default('rollback'),
  /** A wave device not heard from for this long is counted offline: the wave does not wait for it. */
  offline_after_ms: z.number().int().positive().default(90_000),
});
export type Plan = z.infer<typeof planSchema>;

export type RolloutState = 'running' | 'paused' | 'halted' | 'aborted' | 'completed';
export type Phase = 'dispatch' | 'installing' | 'soaking' | 'done';

/** Parses "10%" / "3" against a cohort of n devices: a count, at least 1 for a percentage above 0. */
export function countOf(s: string, n: number): number {
  if (s.endsWith('%')) {
    const p = Number(s.slice(0, -1));
    return p <= 0 ? 0 : Math.min(n, Math.max(1, Math.ceil((p / 100) * n - 1e-9)));
  }
  return Math.min(n, Number(s));
}

/** Cumulative device counts per wave (wave 0 = canary), strictly rising, the last = n. */
export function waveSizes(plan: Plan, n: number): number[] {
  const cum: number[] = [];
  for (const s of [plan.canary, ...plan.waves]) {
    const c = countOf(s, n);
    if (c > (cum.at(-1) ?? 0)) cum.push(c);
  }
  if ((cum.at(-1) ?? 0) < n) cum.push(n);
  return cum;
}

export interface WaveNumbers {
  wave: number;
  waves: number;
  size: number;
  applied: number;
  failed: number;
  pending: number;
  offline: number;
  /** Mean health of the wave's applied devices now, and of the control group (devices not yet updated, online). */
  health_wave: number | null;
  health_control: number | null;
  control_n: number;
  /** Mean health of the wave's devices before the wave (the baseline when no control group is left). */
  health_before: number | null;
}

export interface Decision {
  kind: 'wave_started' | 'wave_installed' | 'wave_passed' | 'completed' | 'halted';
  reason: string;
  numbers: Record<string, unknown>;
  next: { state: RolloutState; wave: number; phase: Phase };
  /** What the engine does along with recording it. */
  effect: 'dispatch' | 'rollback' | 'none';
}

const pct = (s: string): number => Number(s.replace('%', ''));
const r1 = (x: number): number => Math.round(x * 10) / 10;

export function healthDelta(n: WaveNumbers): { delta: number | null; against: 'control' | 'baseline' | null; reference: number | null } {
  if (n.health_wave === null) return { delta: null, against: null, reference: null };
  if (n.health_control !== null && n.control_n > 0) return { delta: r1(n.health_wave - n.health_control), against: 'control', reference: n.health_control };
  if (n.health_before !== null) return { delta: r1(n.health_wave - n.health_before), against: 'baseline', reference: n.health_before };
  return { delta: null, against: null, reference: null };
}

/** The next decision for a running rollout, or undefined when nothing changes yet. */
export function decide(plan: Plan, at: { wave: number; phase: Phase; phaseSinceMs: number; nowMs: number }, n: WaveNumbers): Decision | undefined {
  const maxFail = pct(plan.max_failures);
  const failureRate = n.size === 0 ? 0 : r1((n.failed / n.size) * 100);
  const hd = healthDelta(n);
  const numbers = { ...n, failure_rate_pct: failureRate, max_failures_pct: maxFail, health_delta: hd.delta, health_against: hd.against, min_health_delta: plan.min_health_delta };
  const label = at.wave === 0 ? 'canary' : `wave ${at.wave}`;
  const halt = (reason: string): Decision => ({ kind: 'halted', reason, numbers, next: { state: 'halted', wave: at.wave, phase: at.phase }, effect: plan.on_halt === 'rollback' ? 'rollback' : 'none' });
  if (at.phase === 'dispatch') {
    return { kind: 'wave_started', reason: `${label}: desired state sent to ${n.size} devices`, numbers, next: { state: 'running', wave: at.wave, phase: 'installing' }, effect: 'dispatch' };
  }
  if (at.phase === 'done') return undefined;
  if (failureRate > maxFail) return halt(`${label}: ${n.failed} of ${n.size} devices failed (${failureRate}%), more than the ${maxFail}% allowed`);
  if (at.phase === 'installing') {
    if (n.pending > 0 || n.applied === 0) return undefined;
    const off = n.offline > 0 ? `; ${n.offline} offline, they catch up when they return` : '';
    return { kind: 'wave_installed', reason: `${label}: ${n.applied} of ${n.size} committed, ${n.failed} failed${off}; soaking ${Math.round(plan.soak_ms / 1000)} s`, numbers, next: { state: 'running', wave: at.wave, phase: 'soaking' }, effect: 'none' };
  }
  if (hd.delta !== null && hd.delta < plan.min_health_delta) {
    return halt(`${label}: health ${r1(n.health_wave ?? 0)} against ${hd.against} ${r1(hd.reference ?? 0)} (delta ${hd.delta}), below the ${plan.min_health_delta} allowed`);
  }
  const soaked = at.nowMs - at.phaseSinceMs;
  if (soaked < plan.soak_ms) return undefined;
  const soakNumbers = { ...numbers, soaked_s: Math.round(soaked / 1000) };
  const within = hd.delta === null ? 'no health reported' : `health delta ${hd.delta} against ${hd.against}`;
  if (at.wave + 1 >= n.waves) {
    return { kind: 'completed', reason: `${label} soaked ${Math.round(soaked / 1000)} s (${within}): the rollout reached all ${n.size} devices of its last wave`, numbers: soakNumbers, next: { state: 'completed', wave: at.wave, phase: 'done' }, effect: 'none' };
  }
  return { kind: 'wave_passed', reason: `${label} soaked ${Math.round(soaked / 1000)} s within thresholds (${within}, ${failureRate}% failed): next wave`, numbers: soakNumbers, next: { state: 'running', wave: at.wave + 1, phase: 'dispatch' }, effect: 'none' };
}

/** "10m", "30s", "1h", "500ms" → milliseconds. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s.trim());
  if (!m) return undefined;
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * mult);
}
