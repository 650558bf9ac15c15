import { readFileSync } from 'node:fs';
import type { PreviousRun } from '../artifacts/index.js';
import { CURRENT_RUN_KEY, type JournalReader, type RunRecord } from '../journal/index.js';

/** The key and the record (what the journal remembers of the run in progress) live in the state registry. */
export { CURRENT_RUN_KEY, type RunRecord };

/** Written as the very last step of a SIGTERM/SIGINT stop; its absence at start means the run did not stop cleanly. */
export interface CleanStopMarker {
  run_id: string;
  stopped_at: string;
  signal: string;
  last_seq: number;
}

export function readMarker(path: string): CleanStopMarker | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CleanStopMarker;
  } catch {
    return undefined;
  }
}

/**
 * Works out how the previous run ended from what is on the device: the clean-stop marker (written last on
 * a clean stop), a `daemon.fatal` event (the daemon saw its own crash), and the kernel's boot id (a change
 * means the board itself went down).
 */
export function previousRunEnding(
  journal: JournalReader,
  prev: RunRecord | undefined,
  marker: CleanStopMarker | undefined,
  bootId: string,
): PreviousRun | null {
  if (!prev) return null;
  const rebooted = prev.boot_id !== bootId;
  const last_seq = journal.lastEventOfRun(prev.run_id)?.seq ?? 0;
  if (marker && marker.run_id === prev.run_id) {
    return {
      run_id: prev.run_id,
      boot_id: prev.boot_id,
      started_at: prev.started_at,
      ended: 'clean',
      ended_at: marker.stopped_at,
      reset_reason: rebooted ? `the daemon stopped cleanly on ${marker.signal}, then the board rebooted` : `the daemon stopped cleanly on ${marker.signal}`,
      last_seq,
    };
  }
  const fatal = journal.lastEventOfRun(prev.run_id, 'daemon.fatal');
  if (fatal) {
    return {
      run_id: prev.run_id,
      boot_id: prev.boot_id,
      started_at: prev.started_at,
      ended: 'crash',
      ended_at: fatal.ts,
      reset_reason: `the daemon crashed on a fatal error: ${String(fatal.data.error ?? fatal.reason)}`,
      last_seq,
    };
  }
  return {
    run_id: prev.run_id,
    boot_id: prev.boot_id,
    started_at: prev.started_at,
    ended: 'power-loss-or-kill',
    ended_at: null,
    reset_reason: rebooted
      ? 'the board went down while the daemon ran (power loss, hard reset or hardware watchdog): the boot id changed and no clean stop was recorded'
      : 'the daemon process was killed without a clean stop (SIGKILL, OOM killer or a crash it could not record) while the board kept running',
    last_seq,
  };
}

export function currentRun(journal: JournalReader): RunRecord | undefined {
  return journal.readState(CURRENT_RUN_KEY);
}
