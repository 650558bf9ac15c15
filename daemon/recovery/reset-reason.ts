import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PreviousRun } from '../artifacts/index.js';
import type { JournalEvent, JournalReader } from '../journal/index.js';

/** WDIOF_* bits of /sys/class/watchdog/<dev>/bootstatus (linux/watchdog.h). */
const BOOTSTATUS_BITS: [number, string][] = [
  [0x0001, 'overheat'],
  [0x0002, 'fan-fault'],
  [0x0004, 'external-1'],
  [0x0008, 'external-2'],
  [0x0010, 'power-under'],
  [0x0020, 'card-reset'],
  [0x0040, 'power-over'],
];

export type ResetCause =
  | 'clean-stop'
  | 'clean-stop-then-reboot'
  | 'daemon-crash'
  | 'daemon-killed'
  | 'requested-reboot'
  | 'watchdog-reset'
  | 'kernel-panic'
  | 'power-loss-or-reset';

export interface ResetReason {
  cause: ResetCause;
  /** One sentence for people. */
  summary: string;
  board_rebooted: boolean;
  evidence: {
    clean_stop_marker: boolean;
    daemon_fatal: string | null;
    boot_id_changed: boolean;
    watchdog_bootstatus: { device: string; value: number; flags: string[] }[];
    pstore: string[];
    reboot_request: { seq: number; ts: string; reason: string } | null;
    service_result: string | null;
    exit_status: string | null;
  };
}

function readWatchdogs(sysfs: string): ResetReason['evidence']['watchdog_bootstatus'] {
  const dir = join(sysfs, 'class/watchdog');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: ResetReason['evidence']['watchdog_bootstatus'] = [];
  for (const n of names.sort()) {
    try {
      const value = Number(readFileSync(join(dir, n, 'bootstatus'), 'utf8').trim());
      if (!Number.isFinite(value)) continue;
      out.push({ device: n, value, flags: BOOTSTATUS_BITS.filter(([b]) => (value & b) !== 0).map(([, f]) => f) });
    } catch {
      // a driver without bootstatus
    }
  }
  return out;
}

function readPstore(sysfs: string): string[] {
  try {
    return readdirSync(join(sysfs, 'fs/pstore')).sort();
  } catch {
    return [];
  }
}

/**
 * Why the board or the daemon last went down, from everything on the device: the clean-stop marker and a
 * `daemon.fatal` event (already read into `previous`), the boot id change, the hardware watchdog's
 * bootstatus, pstore records of a kernel panic, the reboots WaveOS itself journaled, and systemd's
 * SERVICE_RESULT/EXIT_STATUS when present. The strongest evidence wins.
 */
export function captureResetReason(deps: {
  previous: PreviousRun;
  journal: JournalReader;
  bootId: string;
  sysfs: string;
  env: NodeJS.ProcessEnv;
}): ResetReason {
  const { previous, journal } = deps;
  const board_rebooted = previous.boot_id !== deps.bootId;
  const fatal = journal.lastEventOfRun(previous.run_id, 'daemon.fatal');
  const req: JournalEvent | undefined = journal.lastEventOfRun(previous.run_id, 'recovery.reboot_requested');
  const evidence: ResetReason['evidence'] = {
    clean_stop_marker: previous.ended === 'clean',
    daemon_fatal: fatal ? String(fatal.data.error ?? fatal.reason) : null,
    boot_id_changed: board_rebooted,
    watchdog_bootstatus: board_rebooted ? readWatchdogs(deps.sysfs) : [],
    pstore: board_rebooted ? readPstore(deps.sysfs) : [],
    reboot_request: req ? { seq: req.seq, ts: req.ts, reason: req.reason } : null,
    service_result: deps.env.SERVICE_RESULT ?? null,
    exit_status: deps.env.EXIT_STATUS ?? null,
  };
  const wdReset = evidence.watchdog_bootstatus.find((w) => w.flags.length > 0);
  const r = (cause: ResetCause, summary: string): ResetReason => ({ cause, summary, board_rebooted, evidence });
  if (board_rebooted && evidence.pstore.length > 0)
    return r('kernel-panic', `the board rebooted after a kernel panic or oops: pstore holds ${evidence.pstore.join(', ')}`);
  if (board_rebooted && wdReset)
    return r('watchdog-reset', `the board was reset by the hardware watchdog ${wdReset.device} (bootstatus 0x${wdReset.value.toString(16)}: ${wdReset.flags.join(', ')})`);
  if (board_rebooted && req) return r('requested-reboot', `the board rebooted as WaveOS asked (seq ${req.seq}): ${req.reason}`);
  if (previous.ended === 'clean') return r(board_rebooted ? 'clean-stop-then-reboot' : 'clean-stop', previous.reset_reason);
  if (fatal) return r('daemon-crash', previous.reset_reason);
  if (board_rebooted) return r('power-loss-or-reset', previous.reset_reason);
  const systemd = evidence.service_result ? ` (systemd: ${evidence.service_result}${evidence.exit_status ? `, exit ${evidence.exit_status}` : ''})` : '';
  return r('daemon-killed', `${previous.reset_reason}${systemd}`);
}
