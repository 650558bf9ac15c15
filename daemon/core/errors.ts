/** Exit codes of the `waveos` command (CONTRACT.md). */
export const ExitCode = {
  ok: 0,
  runtime: 1,
  usage: 2,
  unreachable: 3,
  denied: 4,
  verification: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Stable error codes; docs/errors.md explains each and what to do about it.
 * The exit code is decided here once, so the edges only map.
 */
export const ErrorCodes = {
  WAVEOS_E_USAGE: ExitCode.usage,
  WAVEOS_E_CONFIG_MISSING: ExitCode.usage,
  WAVEOS_E_CONFIG_SYNTAX: ExitCode.usage,
  WAVEOS_E_CONFIG_INVALID: ExitCode.usage,
  WAVEOS_E_CONFIG_VERSION: ExitCode.usage,
  WAVEOS_E_POLICY_SYNTAX: ExitCode.usage,
  WAVEOS_E_POLICY_INVALID: ExitCode.usage,
  WAVEOS_E_METRICS_CSV: ExitCode.usage,
  WAVEOS_E_BAD_REQUEST: ExitCode.usage,
  WAVEOS_E_DAEMON_UNREACHABLE: ExitCode.unreachable,
  WAVEOS_E_PERMISSION: ExitCode.denied,
  WAVEOS_E_JOURNAL_CHAIN: ExitCode.verification,
  WAVEOS_E_EVIDENCE_VERIFY: ExitCode.verification,
  WAVEOS_E_JOURNAL_OPEN: ExitCode.runtime,
  WAVEOS_E_ALREADY_RUNNING: ExitCode.runtime,
  WAVEOS_E_ROOT: ExitCode.runtime,
  WAVEOS_E_NOT_FOUND: ExitCode.runtime,
  WAVEOS_E_RUNTIME: ExitCode.runtime,
  WAVEOS_E_NOTIFY: ExitCode.runtime,
  WAVEOS_E_DISK_FULL: ExitCode.runtime,
  WAVEOS_E_REBOOT_GUARD: ExitCode.runtime,
  WAVEOS_E_BUNDLE_FORMAT: ExitCode.verification,
  WAVEOS_E_BUNDLE_SIGNATURE: ExitCode.verification,
  WAVEOS_E_BUNDLE_HASH: ExitCode.verification,
  WAVEOS_E_BUNDLE_PATH: ExitCode.verification,
  WAVEOS_E_BUNDLE_LIMIT: ExitCode.verification,
  WAVEOS_E_BUNDLE_EXPIRED: ExitCode.verification,
  WAVEOS_E_BUNDLE_VERSION: ExitCode.verification,
  WAVEOS_E_BUNDLE_CONTENT: ExitCode.verification,
  WAVEOS_E_BUNDLE_FAILED: ExitCode.verification,
  WAVEOS_E_BUNDLE_ROLLED_BACK: ExitCode.runtime,
  WAVEOS_E_BUNDLE_BUSY: ExitCode.runtime,
} as const;
export type ErrorCode = keyof typeof ErrorCodes;

/** One located problem in an input: which file, where inside it, and what was expected. */
export interface InputProblem {
  file?: string;
  line?: number;
  column?: number;
  /** Dotted path inside the document, e.g. `artifacts.flush_interval`. */
  path?: string;
  message: string;
}

export function formatProblem(p: InputProblem): string {
  const where = [p.file, p.line, p.column].filter((x) => x !== undefined).join(':');
  const at = p.path ? `${p.path}: ` : '';
  return where ? `${where}: ${at}${p.message}` : `${at}${p.message}`;
}

export class WaveosError extends Error {
  readonly code: ErrorCode;
  readonly problems: readonly InputProblem[];

  constructor(code: ErrorCode, message: string, options: { problems?: InputProblem[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WaveosError';
    this.code = code;
    this.problems = options.problems ?? [];
  }

  get exitCode(): ExitCode {
    return ErrorCodes[this.code];
  }
}

export function isWaveosError(e: unknown): e is WaveosError {
  return e instanceof WaveosError;
}

/** Whether `e`, or an error it wraps (`cause`, a few levels down), carries one of `codes`. */
export function hasErrorCode(e: unknown, codes: readonly string[]): boolean {
  for (let c: unknown = e, i = 0; c && i < 4; c = (c as { cause?: unknown }).cause, i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && codes.includes(code)) return true;
  }
  return false;
}

const DISK_FULL_CODES = ['ENOSPC', 'EDQUOT', 'SQLITE_FULL', 'WAVEOS_E_DISK_FULL'] as const;

/** A full filesystem (or quota), as the fs calls, SQLite or WaveOS itself report it. */
export function isDiskFull(e: unknown): boolean {
  return hasErrorCode(e, DISK_FULL_CODES);
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
