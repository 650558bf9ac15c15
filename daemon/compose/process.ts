import { unlinkSync } from 'node:fs';
import type { CleanStopMarker } from '../boot/index.js';
import { ExitCode, type Logger, type ModuleRunner, errorMessage, isWaveosError, isoUtc, writeFileAtomic } from '../core/index.js';
import type { BootContext } from './open.js';

/** A stop that takes longer than this exits anyway, without the clean-stop marker. */
export const HARD_EXIT_MS = 2_000;

/** Asks the launcher to start the daemon again, from the new `waveos` slot. */
export const RESTART_EXIT_CODE = 75;

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };

function removePidFile(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/** Exits even when stopping hangs: no marker is written, so the next start treats the stop as unclean. */
function armHardExit(log: Logger, what: string, code: number): void {
  setTimeout(() => {
    log.error(`${what} took longer than ${HARD_EXIT_MS} ms; exiting without the clean-stop marker`);
    process.exit(code);
  }, HARD_EXIT_MS).unref();
}

/**
 * The process's end, in one place: a stop on a signal (idempotent; exit 128+signal, or the code asked for),
 * and a start that failed half-way (what started is stopped in reverse, then exit non-zero).
 */
export class DaemonExit {
  private stopping = false;

  constructor(
    private readonly boot: BootContext,
    private readonly runner: ModuleRunner,
  ) {}

  /** daemon.stop → units in reverse → journal closed → clean-stop marker → exit. */
  async stop(signal: NodeJS.Signals, exitCode = 128 + (SIGNAL_NUMBERS[signal] ?? 0)): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const { journal, log, clock, chaos, paths, runId, startedMono } = this.boot;
    armHardExit(log, 'stop', 1);
    const uptime_s = Math.round((clock.monoMs() - startedMono) / 1000);
    journal.appendDurable({ kind: 'daemon.stop', source: 'daemon', reason: `stopping on ${signal} after ${uptime_s} s`, data: { signal, uptime_s, ...(chaos.enabled ? { chaos_injected: chaos.stats().injected } : {}) } });
    await this.runner.stop();
    const lastSeq = journal.lastSeq();
    journal.close();
    const m: CleanStopMarker = { run_id: runId, stopped_at: isoUtc(clock.now()), signal, last_seq: lastSeq };
    writeFileAtomic(paths.cleanStopMarker, `${JSON.stringify(m)}\n`);
    removePidFile(paths.pidFile);
    log.info({ signal, last_seq: lastSeq }, 'stopped cleanly');
    process.exit(exitCode);
  }

  /** Exit code 75 for the launcher, after a normal stop. */
  restart(reason: string): void {
    this.boot.log.warn({ reason }, `${reason}: exiting with code ${RESTART_EXIT_CODE} for the launcher`);
    void this.stop('SIGTERM', RESTART_EXIT_CODE);
  }

  /** The runner has stopped what started; record why, release the journal and the pid file, and exit. */
  startFailed(e: unknown): never {
    this.stopping = true;
    const { journal, log, paths } = this.boot;
    armHardExit(log, 'a failed start', 1);
    log.fatal({ err: errorMessage(e) }, 'start-up failed: what had started is stopped; exiting');
    try {
      journal.appendDurable({
        kind: 'daemon.fatal',
        severity: 'critical',
        source: 'daemon',
        reason: `start-up failed, what had started is stopped: ${errorMessage(e)}`,
        data: { error: errorMessage(e), phase: 'start', code: isWaveosError(e) ? e.code : null },
      });
      journal.close();
    } catch {
      // the journal may be what failed
    }
    removePidFile(paths.pidFile);
    this.boot.notifier.close();
    process.exit(isWaveosError(e) ? e.exitCode : ExitCode.runtime);
  }
}
