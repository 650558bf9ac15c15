import type { RebootRecordValue } from '../journal/index.js';

/**
 * A reboot WaveOS asked for, persisted across boots in the journal's `recovery.reboots`; `at` is wall
 * time (ms): monotonic time restarts at every boot, so only wall time spans reboots.
 */
export type RebootRecord = RebootRecordValue;

export interface GuardDecision {
  allowed: boolean;
  /** Reboots inside the window before this one. */
  recent: number;
  max: number;
  window_ms: number;
}

/**
 * Refuses a reboot when `max` were already asked for within `window_ms`: a board that reboots into the same
 * fault must stop rebooting and wait for an operator. A record dated in the future (a clock that jumped
 * back) counts as recent, so a wrong clock errs on the side of not rebooting.
 */
export function decideReboot(history: readonly RebootRecord[], now: number, max: number, window_ms: number): GuardDecision {
  const recent = history.filter((r) => now - r.at < window_ms).length;
  return { allowed: recent < max, recent, max, window_ms };
}

/** Keeps what the window still needs (and a little more for the record). */
export function pruneReboots(history: readonly RebootRecord[], now: number, window_ms: number): RebootRecord[] {
  return history.filter((r) => now - r.at < window_ms).slice(-100);
}
