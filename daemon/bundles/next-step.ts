import type { Manifest } from './manifest.js';

export const INSTALL_STATES = ['received', 'verified', 'staged', 'activated', 'trial', 'committed', 'rejected', 'rolled_back', 'failed'] as const;
export type InstallState = (typeof INSTALL_STATES)[number];
export const TERMINAL_STATES: ReadonlySet<InstallState> = new Set<InstallState>(['committed', 'rejected', 'rolled_back', 'failed']);

/**
 * Every edge of the install machine. `staged → verified`: the staged slot is not marked good (the disk lost
 * it), so it is staged again. `trial → trial`: a trial resumed after a restart starts again (and is counted).
 * `failed` from `received`: the loop guard refuses a bundle at verification.
 */
export const TRANSITIONS: Readonly<Record<InstallState, readonly InstallState[]>> = {
  received: ['verified', 'rejected', 'failed'],
  verified: ['staged', 'rejected'],
  staged: ['activated', 'verified', 'rolled_back'],
  activated: ['trial', 'rolled_back'],
  trial: ['trial', 'committed', 'rolled_back'],
  committed: [],
  rejected: [],
  rolled_back: [],
  failed: [],
};

/** Throws on an edge the table does not have: that is a bug in the agent, never a condition of the board. */
export function assertTransition(from: InstallState | undefined, to: InstallState): void {
  const ok = from === undefined ? to === 'received' : TRANSITIONS[from].includes(to);
  if (!ok) throw new Error(`install state machine: ${from ?? '(new)'} → ${to} is not a transition (allowed: ${from === undefined ? 'received' : TRANSITIONS[from].join(', ') || 'none'})`);
}

/** What a step decision needs of an install record. */
export interface StepRecord {
  state: InstallState;
  kind?: Manifest['kind'];
  bundle_id?: string;
  trial_starts: number;
}

/** What the disk, the journal and the runtime say, gathered by the agent before each step. */
export interface StepFacts {
  /** This run took the install over from a previous run and has not moved it to another state since. */
  resumed: boolean;
  /** This run already put the slot back into service once while resuming (so it does not loop doing it). */
  reactivated: boolean;
  /** The install's slot is marked good. */
  slotGood: boolean;
  /** `current` points at the install's slot. */
  currentIsBundle: boolean;
  /** The install's slot is in service: current names it, and an app with `app.run` runs from it. */
  inService: boolean;
  /** A launcher runs this daemon (WAVEOS_LAUNCHER=1). */
  underLauncher: boolean;
  /** This daemon runs from the install's waveos slot. */
  runningFromSlot: boolean;
  /** What the launcher noted when it last switched back to a last known-good daemon. */
  launcherNote: LauncherNote | null;
  maxTrialStarts: number;
  /** The verdict of this run's trial gate, once it has run. */
  gate?: { ok: boolean; reason: string; data: Record<string, unknown> };
}

export interface LauncherNote {
  bundle_id: string;
  starts: number;
  ts: string;
}

export type Step =
  | { do: 'verify' }
  | { do: 'stage' }
  /** The staged slot is not good any more: back to verified, to stage it again. */
  | { do: 'unstage' }
  | { do: 'activate' }
  /** A resumed install's slot is not in service (its app is not running from it): put it back, then go on. */
  | { do: 'reactivate' }
  | { do: 'begin-trial' }
  /** Runs the trial's gate; its verdict is the next facts' `gate`. */
  | { do: 'run-trial' }
  | { do: 'commit'; reason: string; data: Record<string, unknown> }
  | { do: 'rollback'; reason: string; data: Record<string, unknown> }
  /** A waveos bundle is tried by the daemon it contains: exit for the launcher to start it. */
  | { do: 'restart-into-waveos' }
  | { do: 'done' }
  | { do: 'rejected' };

const rollback = (reason: string, data: Record<string, unknown> = {}): Step => ({ do: 'rollback', reason, data });

/** A waveos bundle after its activation: tried here when this daemon runs from it, else restarted into or given up. */
function waveosStep(rec: StepRecord, f: StepFacts): Step {
  if (!f.currentIsBundle) {
    const note = f.launcherNote;
    const why =
      note && note.bundle_id === rec.bundle_id
        ? `the launcher switched back to the last known-good daemon after the new one failed to start ${note.starts} time(s)`
        : 'current no longer points at this bundle';
    return rollback(why, { launcher: note });
  }
  if (f.runningFromSlot) return { do: 'begin-trial' };
  if (!f.underLauncher) return rollback('this daemon was not started by the WaveOS launcher, so it cannot start the new daemon: run the unit through bin/waveos-launcher.js');
  // Started again from the old tree although current points at the new one: the launcher did not take it
  // (e.g. it is older than this bundle); do not loop.
  if (f.resumed) return rollback('the launcher started the old daemon again although current points at the new one');
  return { do: 'restart-into-waveos' };
}

/** A resumed install's slot must be in service before its trial starts again. */
function trialStep(rec: StepRecord, f: StepFacts): Step {
  if (rec.kind === 'waveos') return waveosStep(rec, f);
  if (f.resumed && !f.inService && !f.reactivated) return { do: 'reactivate' };
  return { do: 'begin-trial' };
}

/**
 * The next step of an install: a pure function of its record and the facts. The agent performs the step,
 * which (except for `reactivate`, `run-trial` and `restart-into-waveos`) moves the record to another state,
 * gathers the facts again and asks again.
 */
export function nextStep(rec: StepRecord, f: StepFacts): Step {
  switch (rec.state) {
    case 'received':
      return { do: 'verify' };
    case 'verified':
      return { do: 'stage' };
    case 'staged':
      return f.slotGood ? { do: 'activate' } : { do: 'unstage' };
    case 'activated':
      return trialStep(rec, f);
    case 'trial':
      if (!f.resumed) {
        if (!f.gate) return { do: 'run-trial' };
        return f.gate.ok ? { do: 'commit', reason: f.gate.reason, data: f.gate.data } : rollback(`health gate failed: ${f.gate.reason}`, f.gate.data);
      }
      // The daemon died during this trial. Count it, and stop after too many (Mender's bootcount).
      if (rec.trial_starts >= f.maxTrialStarts) return rollback(`the daemon stopped during the trial ${rec.trial_starts} time(s); the limit is ${f.maxTrialStarts}`, { trial_starts: rec.trial_starts });
      return trialStep(rec, f);
    case 'committed':
    case 'rolled_back':
    case 'failed':
      return { do: 'done' };
    case 'rejected':
      return { do: 'rejected' };
  }
}
