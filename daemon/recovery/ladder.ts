import type { RecoveryConfig } from '../config/index.js';

/** Escalation level of one service: 0 restarts only, 1 has degraded the device, 2 has asked for a reboot. */
export type Level = 0 | 1 | 2;

/** What the ladder remembers of one service; pure data, so the planner is tested without processes. */
export interface LadderState {
  /** Monotonic times of recent failures (exits and failed health checks) inside the crash-loop window. */
  failures: number[];
  /** Consecutive restarts since the last healthy run: the backoff exponent. */
  attempt: number;
  level: Level;
}

export const initialLadder = (): LadderState => ({ failures: [], attempt: 0, level: 0 });

export interface Failure {
  /** Monotonic time of the failure. */
  at: number;
  /** How long the run that just ended lasted. */
  uptime_ms: number;
}

export type Step =
  | { kind: 'restart'; delay_ms: number; attempt: number; failures_in_window: number; reset: boolean }
  | { kind: 'degrade'; failures_in_window: number; window_ms: number }
  | { kind: 'reboot'; failures_in_window: number; window_ms: number };

export type LadderConfig = Pick<RecoveryConfig, 'backoff_initial_ms' | 'backoff_max_ms' | 'backoff_factor' | 'jitter' | 'healthy_reset_ms' | 'crash_loop'>;

/** The restart delay for `attempt` (0-based): exponential, capped, with ±jitter drawn from `random` in [0, 1). */
export function backoffDelay(cfg: LadderConfig, attempt: number, random: number): number {
  const base = Math.min(cfg.backoff_max_ms, cfg.backoff_initial_ms * cfg.backoff_factor ** attempt);
  const spread = base * cfg.jitter * (random * 2 - 1);
  return Math.max(0, Math.round(Math.min(cfg.backoff_max_ms, base + spread)));
}

/**
 * Plans what follows a failure, without doing anything: restart after a growing delay; a crash loop
 * (crash_loop.exits failures within crash_loop.window) escalates one level — degrade first, then a reboot
 * request — and the service is restarted after it. A run of at least healthy_reset resets it all.
 */
export function planAfterFailure(state: LadderState, f: Failure, cfg: LadderConfig, random: number): { state: LadderState; steps: Step[] } {
  const reset = f.uptime_ms >= cfg.healthy_reset_ms;
  let s: LadderState = reset ? initialLadder() : { failures: [...state.failures], attempt: state.attempt, level: state.level };
  s.failures = [...s.failures.filter((t) => f.at - t < cfg.crash_loop.window_ms), f.at];
  const inWindow = s.failures.length;
  const steps: Step[] = [];
  if (inWindow >= cfg.crash_loop.exits) {
    // A new window starts with the escalation, so each level needs a crash loop of its own.
    const window_ms = cfg.crash_loop.window_ms;
    if (s.level === 0) {
      s = { ...s, failures: [], level: 1 };
      steps.push({ kind: 'degrade', failures_in_window: inWindow, window_ms });
    } else {
      s = { ...s, failures: [], level: 2 };
      steps.push({ kind: 'reboot', failures_in_window: inWindow, window_ms });
    }
  }
  steps.push({ kind: 'restart', delay_ms: backoffDelay(cfg, s.attempt, random), attempt: s.attempt + 1, failures_in_window: inWindow, reset });
  s = { ...s, attempt: s.attempt + 1 };
  return { state: s, steps };
}
