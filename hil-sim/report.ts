import { median } from './prng.js';

export interface Violation {
  fault: number;
  fault_kind: string;
  message: string;
}

export interface HilReport {
  scenario: string;
  seed: number;
  started_at: string;
  duration_s: number;
  replay: string;
  faults_injected: number;
  /** SIGKILLs of the daemon (by the rig or by its own fault hook), whatever the fault kind. */
  daemon_sigkills: number;
  /** Bundle installs the daemon was killed in the middle of. */
  interrupted_installs: number;
  faults_by_kind: Record<string, number>;
  invariants_checked: number;
  checks_by_invariant: Record<string, number>;
  violations: Violation[];
  recovery_ms: { count: number; median: number | null; max: number | null };
  notes: string[];
  /** Scenario-specific numbers (soak slopes, fsync audit counts, API fuzz statuses, ...). */
  details: Record<string, unknown>;
  ok: boolean;
}

/** Collects what a scenario did; one per run. */
export class Recorder {
  private readonly t0 = Date.now();
  private readonly startedAt = new Date().toISOString();
  faults = 0;
  kills = 0;
  interruptedInstalls = 0;
  readonly byKind: Record<string, number> = {};
  readonly checks: Record<string, number> = {};
  readonly violations: Violation[] = [];
  readonly recoveries: number[] = [];
  readonly notes: string[] = [];
  readonly details: Record<string, unknown> = {};
  private lastKind = 'none';

  constructor(
    readonly scenario: string,
    readonly seed: number,
    readonly argsForReplay: string,
  ) {}

  fault(kind: string): number {
    this.faults++;
    this.lastKind = kind;
    this.byKind[kind] = (this.byKind[kind] ?? 0) + 1;
    return this.faults;
  }

  checked(names: readonly string[]): void {
    for (const n of names) this.checks[n] = (this.checks[n] ?? 0) + 1;
  }

  violation(message: string): void {
    this.violations.push({ fault: this.faults, fault_kind: this.lastKind, message });
  }

  /** A check outside the invariant set (e.g. "recovery within bound"): counted, and a violation if it fails. */
  expect(name: string, ok: boolean, message: string): void {
    this.checked([name]);
    if (!ok) this.violation(`${name}: ${message}`);
  }

  recovered(ms: number): void {
    this.recoveries.push(ms);
  }

  report(): HilReport {
    return {
      scenario: this.scenario,
      seed: this.seed,
      started_at: this.startedAt,
      duration_s: Math.round((Date.now() - this.t0) / 100) / 10,
      replay: `npm run hil -- --scenario ${this.scenario} --seed ${this.seed}${this.argsForReplay}`,
      faults_injected: this.faults,
      daemon_sigkills: this.kills,
      interrupted_installs: this.interruptedInstalls,
      faults_by_kind: this.byKind,
      invariants_checked: Object.values(this.checks).reduce((a, b) => a + b, 0),
      checks_by_invariant: this.checks,
      violations: this.violations,
      recovery_ms: { count: this.recoveries.length, median: median(this.recoveries), max: this.recoveries.length ? Math.max(...this.recoveries) : null },
      notes: this.notes,
      details: this.details,
      ok: this.violations.length === 0,
    };
  }
}

/** The human summary printed at the end of a run. */
export function summarize(r: HilReport): string {
  const lines = [
    `HIL ${r.scenario}  seed ${r.seed}  ${r.duration_s} s  ${r.ok ? 'PASS' : 'FAIL'}`,
    `  faults injected: ${r.faults_injected} (${Object.entries(r.faults_by_kind)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none'})`,
    `  daemon SIGKILLs: ${r.daemon_sigkills}, interrupted bundle installs: ${r.interrupted_installs}`,
    `  invariants checked: ${r.invariants_checked} (${Object.entries(r.checks_by_invariant)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
    `  recovery: ${r.recovery_ms.count} measured, median ${r.recovery_ms.median ?? '-'} ms, max ${r.recovery_ms.max ?? '-'} ms`,
    `  violations: ${r.violations.length}`,
    ...r.violations.slice(0, 20).map((v) => `    after fault ${v.fault} (${v.fault_kind}): ${v.message}`),
    ...r.notes.map((n) => `  note: ${n}`),
    `  replay: ${r.replay}`,
  ];
  return lines.join('\n');
}
