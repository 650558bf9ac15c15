import type { PreviousRun } from '../artifacts/index.js';
import { type ChaosStats, formatMs, isoUtc } from '../core/index.js';
import type { EventInput } from '../journal/index.js';
import { CLOCK_JUMP_MS } from '../recovery/index.js';

/** What start-up learned before this run recorded anything; the findings are derived from it alone. */
export interface StartupFacts {
  runId: string;
  version: string;
  profile: string;
  pid: number;
  nodeVersion: string;
  nowMs: number;
  previous: PreviousRun | null;
  /** The classified cause of the previous run's end, where one was read. */
  reset: { cause: string; summary: string; board_rebooted: boolean; evidence: Record<string, unknown> } | null;
  config: { hash: string; previousHash: string | undefined; file: string | null; migrations: readonly { from: number; to: number; describe: string }[] };
  artifacts: { recoveredEvents: number; trimmedBytes: number };
  lastEventTs: number | undefined;
  journal: { db: string; artifactsDir: string; quarantined?: { problem: string; files: string[] }; missingWithRuns: boolean };
  /** `origin`: where failure injection was asked for (refused in prod, so not in `stats`). */
  chaos: { stats: ChaosStats; refused: boolean; origin: string | null };
}

/** An event to journal at start-up; `durable` ones are committed before the daemon goes on. */
export interface Finding {
  event: EventInput;
  durable: boolean;
}

/** Start-up's findings, in the order they are journaled: config, the start itself, the clock, the journal, chaos, the reset reason. */
export function startupFindings(f: StartupFacts): Finding[] {
  const out: Finding[] = [];
  const add = (event: EventInput, durable = false): void => void out.push({ event, durable });
  const { config: c, previous } = f;
  if (c.previousHash !== undefined && c.previousHash !== c.hash) {
    add({
      kind: 'config.changed',
      severity: 'notice',
      source: 'config',
      reason: `the effective config changed since the previous run (${c.previousHash.slice(0, 12)} → ${c.hash.slice(0, 12)})`,
      data: { from: c.previousHash, to: c.hash, file: c.file },
    });
  }
  for (const m of c.migrations) {
    add({
      kind: 'config.migrated',
      severity: 'notice',
      source: 'config',
      reason: `the config file is written for schema_version ${m.from}; it was migrated in memory to ${m.to}: ${m.describe}`,
      data: { from: m.from, to: m.to, file: c.file },
    });
  }
  add(
    {
      kind: 'daemon.start',
      severity: previous && previous.ended !== 'clean' ? 'warning' : 'info',
      source: 'daemon',
      reason: previous
        ? `WaveOS ${f.version} started run ${f.runId}; the previous run ${previous.run_id} ended ${previous.ended}: ${previous.reset_reason}`
        : `WaveOS ${f.version} started run ${f.runId}; no previous run is recorded on this root`,
      data: {
        previous_run: previous,
        profile: f.profile,
        config_hash: c.hash,
        config_file: c.file,
        pid: f.pid,
        node_version: f.nodeVersion,
        recovered_artifact_events: f.artifacts.recoveredEvents,
        trimmed_artifact_bytes: f.artifacts.trimmedBytes,
      },
    },
    true,
  );
  if (f.lastEventTs !== undefined && f.nowMs < f.lastEventTs - CLOCK_JUMP_MS) {
    add({
      kind: 'clock.behind_journal',
      severity: 'warning',
      source: 'daemon',
      reason: `the wall clock (${isoUtc(f.nowMs)}) is ${formatMs(f.lastEventTs - f.nowMs)} behind the journal's last event (${isoUtc(f.lastEventTs)}): it was set back, or the board has no RTC and has not synced yet; event timestamps will run behind until it does`,
      data: { now: isoUtc(f.nowMs), last_event: isoUtc(f.lastEventTs) },
    });
  }
  journalFindings(f, add);
  chaosFindings(f, add);
  if (previous && f.reset) {
    add({
      kind: 'boot.reset_reason',
      severity: f.reset.cause.startsWith('clean-stop') ? 'info' : 'warning',
      source: 'recovery',
      reason: `the previous run ${previous.run_id} ended: ${f.reset.summary}`,
      data: { run_id: previous.run_id, cause: f.reset.cause, board_rebooted: f.reset.board_rebooted, ...f.reset.evidence },
    });
  }
  return out;
}

function journalFindings(f: StartupFacts, add: (e: EventInput, durable?: boolean) => void): void {
  const q = f.journal.quarantined;
  if (q) {
    add(
      {
        kind: 'journal.quarantined',
        severity: 'critical',
        source: 'journal',
        reason: `the journal was damaged (${q.problem}): it was moved aside to ${q.files[0] ?? '?'} and this new journal begins at seq 1; the old one is kept for recovery, and the run folders under artifacts/ still hold its events`,
        data: { files: q.files, problem: q.problem },
      },
      true,
    );
  } else if (f.journal.missingWithRuns) {
    add(
      {
        kind: 'journal.missing',
        severity: 'error',
        source: 'journal',
        reason: `there was no journal at ${f.journal.db} although run folders exist under ${f.journal.artifactsDir}: a new journal begins at seq 1 (was it deleted?)`,
        data: { file: f.journal.db },
      },
      true,
    );
  }
}

function chaosFindings(f: StartupFacts, add: (e: EventInput) => void): void {
  const { stats, refused } = f.chaos;
  if (stats.enabled) {
    add({
      kind: 'chaos.enabled',
      severity: 'warning',
      source: 'chaos',
      reason: `failure injection is on (${stats.origin === 'env' ? 'WAVEOS_CHAOS' : 'the config'}), seed ${stats.seed}: ${stats.rules.map((r) => `${r.point} ${r.effect} at ${r.rate}`).join(', ')}; this is a test rig, not a device in the field`,
      data: { seed: stats.seed, origin: stats.origin, rules: stats.rules },
    });
  } else if (refused) {
    add({
      kind: 'chaos.refused',
      severity: 'warning',
      source: 'chaos',
      reason: 'WAVEOS_CHAOS is set but the prod profile never injects failures: it is ignored',
      data: { origin: f.chaos.origin },
    });
  }
}

/** The event of a wall-clock jump the main loop saw: timestamps follow it, seq and monotonic times do not. */
export function clockJumpEvent(j: { deltaMs: number; fromMs: number; toMs: number }): EventInput {
  return {
    kind: 'clock.jumped',
    severity: 'warning',
    source: 'daemon',
    reason: `the wall clock jumped ${j.deltaMs > 0 ? 'forward' : 'back'} by ${formatMs(Math.abs(j.deltaMs))} (from ${isoUtc(j.fromMs)} to ${isoUtc(j.toMs)}); event timestamps follow it, seq and monotonic times do not`,
    data: { delta_ms: j.deltaMs, from: isoUtc(j.fromMs), to: isoUtc(j.toMs) },
  };
}
