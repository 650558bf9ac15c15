import { mkdirSync, readFileSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type Paths, fsyncDir, writeFileAtomic } from '../core/index.js';

export const RUN_META_SCHEMA_VERSION = 1;

export type RunEnding = 'clean' | 'crash' | 'power-loss-or-kill';

export interface PreviousRun {
  run_id: string;
  boot_id: string;
  started_at: string;
  ended: RunEnding;
  /** When it ended, where known (the clean-stop marker or the fatal event). */
  ended_at: string | null;
  /** Why the board or daemon last went down, as far as the evidence on the device tells. */
  reset_reason: string;
  /** The last event that run committed. */
  last_seq: number;
  /** Classified cause (recovery's reset-reason capture), e.g. requested-reboot, watchdog-reset, daemon-killed. */
  reset_cause?: string;
  /** What the cause was read from: marker, boot id, watchdog bootstatus, pstore, journaled reboot requests. */
  reset_evidence?: Record<string, unknown>;
}

export interface BuildInfo {
  git_commit: string | null;
  git_dirty: boolean | null;
  built_at: string | null;
  node_version: string;
}

/**
 * One installed bundle, keyed `<kind>/<name>` (its slot group): several bundles of one kind each have their
 * own entry, which `bundle_ids` (one id per kind, kept for the contract) cannot hold.
 */
export interface InstalledBundle {
  kind: string;
  name: string;
  bundle_id: string;
  version: string | null;
  /**
   * `committed` (current is the last known-good), `activated` or `trial` (an install on trial, not yet
   * committed), `previous_good` (rolled back on request to the one before), `uncommitted` (anything else).
   */
  state: 'committed' | 'activated' | 'trial' | 'previous_good' | 'uncommitted';
}

export interface RunMeta {
  schema_version: number;
  run_id: string;
  boot_id: string;
  started_at: string;
  waveos_version: string;
  policy_version: string | null;
  /** The current bundle id by kind (with several bundles of a kind, the last by name): the contract's field. */
  bundle_ids: Record<string, string>;
  /** Every installed bundle by `<kind>/<name>`, with its kind, version and state. */
  bundles_by_name: Record<string, InstalledBundle>;
  config_hash: string;
  config_file: string | null;
  profile: string;
  build: BuildInfo;
  device: { device_id: string; app_id: string; environment: string };
  feature_flags: Record<string, boolean>;
  previous_run: PreviousRun | null;
}

export function runDir(paths: Paths, runId: string): string {
  return join(paths.artifactsDir, runId);
}

/** Writes run_meta.json atomically into the run's folder and points `latest` at it. */
export function writeRunMeta(paths: Paths, meta: RunMeta): string {
  const dir = runDir(paths, meta.run_id);
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const file = join(dir, 'run_meta.json');
  writeFileAtomic(file, `${JSON.stringify(meta, null, 2)}\n`);
  switchLatest(paths, meta.run_id);
  return file;
}

/** The symlink is replaced by renaming a new one over it: readers see the old target or the new one. */
function switchLatest(paths: Paths, runId: string): void {
  const tmp = `${paths.artifactsLatest}.tmp-${process.pid}`;
  try {
    unlinkSync(tmp);
  } catch {
    // no leftover from an earlier crash
  }
  symlinkSync(runId, tmp);
  renameSync(tmp, paths.artifactsLatest);
  fsyncDir(paths.artifactsDir);
}

export function readRunMeta(paths: Paths, runId: string): RunMeta | undefined {
  try {
    return JSON.parse(readFileSync(join(runDir(paths, runId), 'run_meta.json'), 'utf8')) as RunMeta;
  } catch {
    return undefined;
  }
}
