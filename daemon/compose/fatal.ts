import { type Logger, errorMessage, hasErrorCode } from '../core/index.js';
import type { Journal } from '../journal/index.js';

/** Exit code 70 (EX_SOFTWARE): systemd restarts us, and the next start recovers. */
export const FATAL_EXIT_CODE = 70;

/** An unexpected error: logged, journaled if the journal still takes it, and the process exits. */
export function fatalExit(log: Logger, journal: Journal | undefined, e: unknown): never {
  log.fatal({ err: errorMessage(e), stack: e instanceof Error ? e.stack : undefined }, 'fatal error: exiting so that the service manager restarts WaveOS');
  try {
    journal?.appendDurable({
      kind: 'daemon.fatal',
      severity: 'critical',
      source: 'daemon',
      reason: `fatal error, exiting so that the service manager restarts WaveOS: ${errorMessage(e)}`,
      data: { error: errorMessage(e), stack: e instanceof Error ? (e.stack ?? '').split('\n').slice(0, 8) : [] },
    });
  } catch {
    // the journal itself may be what failed; the next start reads the missing clean-stop marker
  }
  process.exit(FATAL_EXIT_CODE);
}

/** The journal's refusals while it holds commits: nothing was stored, so the durable state is known. */
const HELD_CODES = ['WAVEOS_E_JOURNAL_READONLY', 'WAVEOS_E_DISK_FULL'] as const;

/**
 * An error nothing caught. While the journal holds its commits (read-only files, a full disk), a durable write
 * that some timer attempted was refused whole — its event taken back or held in order — so the journal's state
 * is still known: the daemon stays up, degraded, instead of exiting into a start that could not write either.
 * Anything else is fatal.
 */
export function uncaughtError(log: Logger, journal: Journal | undefined, e: unknown): void {
  if (journal && (journal.readOnly() || journal.diskFull()) && hasErrorCode(e, HELD_CODES)) {
    log.error({ err: errorMessage(e) }, 'a write was refused while the journal cannot commit; running on degraded');
    return;
  }
  fatalExit(log, journal, e);
}
