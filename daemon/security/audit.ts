import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Clock, fsyncDir, isoUtc } from '../core/index.js';

export interface AuditRecord {
  decision: 'allow' | 'deny';
  /** The token's name; `local-admin`/`local-viewer` for a token-less request on a group socket; null for an unknown token. */
  token: string | null;
  role: string | null;
  action: string;
  target: string | null;
  reason: string;
  /** Which control socket the request came in on (`admin`, `viewer`, `token`). */
  socket?: string;
}

/** The audit trail's bound: the live file rotates at `maxBytes`, and `keep` files in all are kept. */
export interface AuditLimits {
  maxBytes: number;
  keep: number;
}

/** 1 MiB × 5 files: ~25,000 decisions (a year of operator use) in at most 5 MiB of flash. */
export const AUDIT_LIMITS: AuditLimits = { maxBytes: 1024 * 1024, keep: 5 };

/**
 * Append-only `audit.jsonl`: one line per authorization decision, fsynced, never holding a token. The live
 * file rotates to `audit.jsonl.1` … `.N` (oldest dropped) before a line would take it past the bound, so a
 * flood of requests costs a bounded amount of storage and never a torn line.
 */
export class AuditLog {
  constructor(
    private readonly file: string,
    private readonly clock: Clock,
    private readonly limits: AuditLimits = AUDIT_LIMITS,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
  }

  append(r: AuditRecord): void {
    const bytes = Buffer.from(`${JSON.stringify({ ts: isoUtc(this.clock.now()), ...r })}\n`);
    if (this.size() + bytes.length > this.limits.maxBytes) this.rotate();
    const fd = openSync(this.file, 'a', 0o640);
    // A short write or ENOSPC must not leave a torn line for the next record to be glued to: cut back to
    // the last whole line and let the caller see the failure.
    const goodEnd = fstatSync(fd).size;
    try {
      const written = writeSync(fd, bytes);
      if (written !== bytes.length) throw new Error(`audit: short write (${written} of ${bytes.length} bytes)`);
      fsyncSync(fd);
    } catch (err) {
      try {
        ftruncateSync(fd, goodEnd);
      } catch {
        // the cut is best effort; the original error is what the caller needs
      }
      throw err;
    } finally {
      closeSync(fd);
    }
  }

  private size(): number {
    try {
      return statSync(this.file).size;
    } catch {
      return 0;
    }
  }

  /** Shifts `.1`…`.keep-1` up by one (dropping the oldest) and starts a new live file; renames are atomic. */
  private rotate(): void {
    const { keep } = this.limits;
    rmSync(`${this.file}.${keep - 1}`, { force: true });
    for (let i = keep - 2; i >= 1; i--) {
      try {
        renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
      } catch {
        // that generation does not exist yet
      }
    }
    if (keep > 1) renameSync(this.file, `${this.file}.1`);
    else rmSync(this.file, { force: true });
    fsyncDir(dirname(this.file));
  }
}
