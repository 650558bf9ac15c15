import { type Logger, errorMessage } from '../core/index.js';
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
