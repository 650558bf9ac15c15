import { SEVERITIES, type JournalEvent, type Severity } from '../journal/index.js';

export interface Weight {
  /** Points lost per unit of the input. */
  points: number;
  /** The most points this input can cost. */
  max: number;
}

export interface HealthWeights {
  service_restart: Weight;
  service_failed: Weight;
  budget_violation: Weight;
  breaker_trip: Weight;
  /** Per error-or-critical event per minute (averaged over the window). */
  error_event_rate: Weight;
  /** Points lost at 0 % free; scales linearly from `below` free down to 0. */
  disk_headroom: { points: number; below: number };
  collector_failure: Weight;
}

export interface HealthInputs {
  /** Restarts within the window that followed a crash or a failed health check. */
  service_restarts: number;
  /** Restarts within the window that an operator, a policy, a bundle or a mode change asked for: no points. */
  requested_restarts?: number;
  /** Services whose state is failed. */
  failed_services: string[];
  budget_violations: number;
  breaker_trips: number;
  /** Error and critical events per minute, averaged over the window. */
  error_events_per_minute: number;
  /** The lowest free share of the filesystems holding state and logs; null if unknown. */
  disk_free_ratio: number | null;
  failing_collectors: string[];
}

export interface Deduction {
  input: keyof HealthWeights;
  points: number;
  observed: number;
  why: string;
}

export interface HealthReport {
  score: number;
  window_s: number;
  deductions: Deduction[];
  /** What was seen but costs nothing, in words (restarts someone asked for). */
  notes: string[];
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/**
 * score = 100 - Σ min(max_i, points_i × input_i), floored at 0; disk headroom costs
 * points × (1 - free/below) once free space drops under `below`. Every non-zero term is listed.
 */
export function healthScore(inputs: HealthInputs, w: HealthWeights, windowS: number): HealthReport {
  const d: Deduction[] = [];
  const add = (input: keyof HealthWeights, weight: Weight, observed: number, why: string): void => {
    const points = Math.min(weight.max, weight.points * observed);
    if (points > 0) d.push({ input, points: round1(points), observed: round1(observed), why });
  };
  const win = `in the last ${windowS} s`;
  add(
    'service_restart',
    w.service_restart,
    inputs.service_restarts,
    `${inputs.service_restarts} service restart(s) after a crash or a failed health check ${win} × ${w.service_restart.points} points (at most ${w.service_restart.max})`,
  );
  add(
    'service_failed',
    w.service_failed,
    inputs.failed_services.length,
    `${inputs.failed_services.length} service(s) failed${inputs.failed_services.length ? ` (${inputs.failed_services.join(', ')})` : ''} × ${w.service_failed.points} points (at most ${w.service_failed.max})`,
  );
  add('budget_violation', w.budget_violation, inputs.budget_violations, `${inputs.budget_violations} budget violation(s) ${win} × ${w.budget_violation.points} points (at most ${w.budget_violation.max})`);
  add('breaker_trip', w.breaker_trip, inputs.breaker_trips, `${inputs.breaker_trips} circuit-breaker trip(s) ${win} × ${w.breaker_trip.points} points (at most ${w.breaker_trip.max})`);
  add(
    'error_event_rate',
    w.error_event_rate,
    inputs.error_events_per_minute,
    `${round1(inputs.error_events_per_minute)} error/critical event(s) per minute ${win} × ${w.error_event_rate.points} points (at most ${w.error_event_rate.max})`,
  );
  if (inputs.disk_free_ratio !== null && inputs.disk_free_ratio < w.disk_headroom.below && w.disk_headroom.below > 0) {
    const short = 1 - Math.max(0, inputs.disk_free_ratio) / w.disk_headroom.below;
    const points = w.disk_headroom.points * short;
    if (points > 0)
      d.push({
        input: 'disk_headroom',
        points: round1(points),
        observed: round1(inputs.disk_free_ratio * 100),
        why: `${round1(inputs.disk_free_ratio * 100)} % free on the state/log filesystem, under ${w.disk_headroom.below * 100} %: ${w.disk_headroom.points} × ${round1(short)}`,
      });
  }
  add(
    'collector_failure',
    w.collector_failure,
    inputs.failing_collectors.length,
    `${inputs.failing_collectors.length} collector(s) failing${inputs.failing_collectors.length ? ` (${inputs.failing_collectors.join(', ')})` : ''} × ${w.collector_failure.points} points (at most ${w.collector_failure.max})`,
  );
  const lost = d.reduce((a, x) => a + x.points, 0);
  const asked = inputs.requested_restarts ?? 0;
  const notes = asked > 0 ? [`${asked} restart(s) ${win} were asked for (operator, policy, bundle or mode change) and cost no points`] : [];
  return { score: Math.max(0, Math.round(100 - lost)), window_s: windowS, deductions: d.sort((a, b) => b.points - a.points), notes };
}

/** Journal events that cost health points: matched by kind. */
export function isBudgetViolation(kind: string): boolean {
  return /budget/.test(kind) && /(exceed|violat|over)/.test(kind);
}

export function isBreakerTrip(kind: string): boolean {
  return /breaker/.test(kind) && /(open|trip)/.test(kind) && !/half/.test(kind);
}

/**
 * Counts committed journal events: per severity per second for the last minute, since start in total,
 * and the times of the events the health score weighs, for its window. Memory is bounded.
 */
export class EventRates {
  private readonly buckets: { sec: number; counts: number[] }[] = Array.from({ length: 60 }, () => ({ sec: -1, counts: SEVERITIES.map(() => 0) }));
  readonly totals: Record<Severity, number> = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  private readonly marks: { budget: number[]; breaker: number[]; error: number[] } = { budget: [], breaker: [], error: [] };

  constructor(
    private readonly windowMs: number,
    private readonly maxMarks = 10_000,
  ) {}

  record(events: readonly JournalEvent[]): void {
    for (const e of events) {
      const sev = SEVERITIES.indexOf(e.severity);
      if (sev < 0) continue;
      const sec = Math.floor(e.mono_ms / 1000);
      const b = this.buckets[sec % 60] as { sec: number; counts: number[] };
      if (b.sec !== sec) {
        b.sec = sec;
        b.counts.fill(0);
      }
      b.counts[sev] = (b.counts[sev] as number) + 1;
      this.totals[e.severity]++;
      if (e.severity === 'error' || e.severity === 'critical') this.mark('error', e.mono_ms);
      if (isBudgetViolation(e.kind)) this.mark('budget', e.mono_ms);
      if (isBreakerTrip(e.kind)) this.mark('breaker', e.mono_ms);
    }
  }

  private mark(k: keyof EventRates['marks'], mono: number): void {
    const list = this.marks[k];
    list.push(mono);
    if (list.length > this.maxMarks) list.splice(0, list.length - this.maxMarks);
  }

  /** Events per severity in the 60 s up to `nowMono`. */
  perMinute(nowMono: number): Record<Severity, number> {
    const nowSec = Math.floor(nowMono / 1000);
    const out = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
    for (const b of this.buckets) {
      if (b.sec < 0 || nowSec - b.sec >= 60 || b.sec > nowSec) continue;
      SEVERITIES.forEach((s, i) => (out[s] += b.counts[i] as number));
    }
    return out;
  }

  /** How many marked events of a kind fell in the window up to `nowMono` (older marks are dropped). */
  inWindow(k: 'budget' | 'breaker' | 'error', nowMono: number): number {
    const list = this.marks[k];
    const from = nowMono - this.windowMs;
    let drop = 0;
    while (drop < list.length && (list[drop] as number) < from) drop++;
    if (drop > 0) list.splice(0, drop);
    return list.length;
  }
}
