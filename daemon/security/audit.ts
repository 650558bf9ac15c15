import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Clock, isoUtc } from '../core/index.js';

export interface AuditRecord {
  decision: 'allow' | 'deny';
  /** The token's name; `local` for a token-less request on the socket; null for an unknown token. */
  token: string | null;
  role: string | null;
  action: string;
  target: string | null;
  reason: string;
}

/** Append-only `audit.jsonl`: one line per authorization decision, fsynced, never holding a token. */
export class AuditLog {
  constructor(
    private readonly file: string,
    private readonly clock: Clock,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
  }

  append(r: AuditRecord): void {
    const line = `${JSON.stringify({ ts: isoUtc(this.clock.now()), ...r })}\n`;
    const fd = openSync(this.file, 'a', 0o640);
    // A short write or ENOSPC must not leave a torn line for the next record to be glued to: cut back to
    // the last whole line and let the caller see the failure.
    const goodEnd = fstatSync(fd).size;
    try {
      const bytes = Buffer.from(line);
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
}
