import { INPUT_LIMITS, type InputProblem, type Logger, formatBytes, readInputFile, scanInputDir } from '../core/index.js';
import type { EventInput } from '../journal/index.js';
import { policyName } from '../policy/index.js';

export interface PolicyFolderText {
  name: string;
  file: string;
  text: string;
}

export interface PolicyFolderRead {
  /** The effective files by name order (a later folder's file replaces an earlier one of the same name). */
  texts: PolicyFolderText[];
  /** Files that could not be taken: too large, unreadable, or the set over its total. */
  problems: InputProblem[];
}

/**
 * Reads the policy folders on the main thread without ever blocking on a file: what is not a regular file (a
 * FIFO, a device, a socket) is skipped with a warning and an `input.skipped` event (once per file while it
 * stays), and each file's and the set's size are checked against the limits before anything is parsed.
 */
export class PolicyFolderReader {
  private reported = new Set<string>();

  constructor(private readonly deps: { log: Logger; emit(e: EventInput): void; accept(name: string): boolean }) {}

  read(dirs: readonly string[]): PolicyFolderRead {
    const chosen = new Map<string, string>();
    const skippedNow = new Set<string>();
    for (const dir of dirs) {
      const scan = scanInputDir(dir, this.deps.accept);
      for (const s of scan.skipped) {
        skippedNow.add(s.file);
        if (!this.reported.has(s.file)) this.skipped(s.file, s.type);
      }
      for (const file of scan.files) chosen.set(policyName(file), file);
    }
    this.reported = skippedNow;
    const problems: InputProblem[] = [];
    const texts: PolicyFolderText[] = [];
    let total = 0;
    for (const [name, file] of [...chosen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const r = readInputFile(file, INPUT_LIMITS.policyFile);
      if (!r.ok) {
        if (r.reason === 'not-regular') this.skipped(file, r.type);
        else problems.push({ file, message: `the policy file ${r.message}` });
        continue;
      }
      total += r.bytes;
      if (total > INPUT_LIMITS.policySet) {
        problems.push({ file, message: `the policy files together are over the limit of ${formatBytes(INPUT_LIMITS.policySet)} (this file brings them to ${total} bytes)` });
        break;
      }
      texts.push({ name, file, text: r.text });
    }
    return { texts, problems };
  }

  private skipped(file: string, type: string): void {
    this.reported.add(file);
    this.deps.log.warn({ file, type }, `policy folder: ${file} is ${type}, not a regular file; skipped`);
    this.deps.emit({
      kind: 'input.skipped',
      severity: 'warning',
      source: 'policy',
      reason: `${file} is skipped: it is ${type}, and only regular files are read as policy files`,
      data: { file, type, reader: 'policy' },
    });
  }
}
