import { type Clock, type Logger, errorMessage } from '../core/index.js';
import type { Journal } from '../journal/index.js';

/** How often a failing audit log is said at most: under a full disk every request would say it again. */
export const AUDIT_FAILURE_EVERY_MS = 60_000;

/**
 * Reports an audit log that cannot be written: an error in the log and a `security.audit_failed` event,
 * once a minute at most, with the count of failures so far.
 */
export function auditFailureReporter(deps: { journal: Pick<Journal, 'append'>; log: Logger; clock: Clock; file: string }): (e: unknown) => void {
  let failures = 0;
  let saidMono = Number.NEGATIVE_INFINITY;
  return (e) => {
    failures++;
    const now = deps.clock.monoMs();
    if (now - saidMono < AUDIT_FAILURE_EVERY_MS) return;
    saidMono = now;
    deps.log.error({ err: errorMessage(e), failures }, 'the audit log cannot be written: reads go on, state-changing requests are refused');
    deps.journal.append({
      kind: 'security.audit_failed',
      severity: 'error',
      source: 'security',
      reason: `the audit log ${deps.file} cannot be written (${errorMessage(e)}): reads go on unaudited, state-changing requests are refused until it can (${failures} failures so far)`,
      data: { error: errorMessage(e), failures },
    });
  };
}
