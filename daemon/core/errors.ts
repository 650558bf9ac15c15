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

/** What one error code means at each edge: the command's exit status and the control API's HTTP status. */
export interface ErrorCodeSpec {
  readonly exit: ExitCode;
  /** The status the API answers with when a handler throws this code. */
  readonly http: number;
  /** Other statuses the code is sent with where the edge tells cases apart (401 vs 403, the proxy's refusals). */
  readonly alsoHttp?: readonly number[];
}

const usage = { exit: ExitCode.usage, http: 400 } as const;
const verification = { exit: ExitCode.verification, http: 422 } as const;
const runtime = { exit: ExitCode.runtime, http: 500 } as const;

/**
 * Stable error codes, the one table of them; docs/errors.md explains each and what to do about it (a test
 * holds the two equal). The exit and HTTP statuses are decided here once, so the edges only look them up.
 */
export const ErrorCodes = {
  WAVEOS_E_USAGE: usage,
  WAVEOS_E_CONFIG_MISSING: usage,
  WAVEOS_E_CONFIG_SYNTAX: usage,
  WAVEOS_E_CONFIG_INVALID: usage,
  WAVEOS_E_CONFIG_VERSION: usage,
  WAVEOS_E_POLICY_SYNTAX: usage,
  WAVEOS_E_POLICY_INVALID: usage,
  WAVEOS_E_METRICS_CSV: usage,
  WAVEOS_E_BAD_REQUEST: usage,
  WAVEOS_E_METHOD_NOT_ALLOWED: { exit: ExitCode.usage, http: 405 },
  WAVEOS_E_BODY_TOO_LARGE: { exit: ExitCode.usage, http: 413 },
  // A name the command was given does not exist (a service, a token, a pack, an endpoint): invalid input.
  WAVEOS_E_NOT_FOUND: { exit: ExitCode.usage, http: 404 },
  // The command's own verdict when nothing answers; the daemon never sends it.
  WAVEOS_E_DAEMON_UNREACHABLE: { exit: ExitCode.unreachable, http: 503 },
  // 401 when the token is unknown or revoked, 403 when its role is too low.
  WAVEOS_E_PERMISSION: { exit: ExitCode.denied, http: 403, alsoHttp: [401] },
  // Too many failed authentications on one socket or connection: nothing is judged until the throttle lifts.
  WAVEOS_E_THROTTLED: { exit: ExitCode.denied, http: 429 },
  WAVEOS_E_JOURNAL_CHAIN: verification,
  WAVEOS_E_EVIDENCE_VERIFY: verification,
  WAVEOS_E_JOURNAL_OPEN: runtime,
  WAVEOS_E_ALREADY_RUNNING: runtime,
  WAVEOS_E_ROOT: runtime,
  WAVEOS_E_RUNTIME: runtime,
  WAVEOS_E_NOTIFY: runtime,
  // The request may succeed once space is freed.
  WAVEOS_E_DISK_FULL: { exit: ExitCode.runtime, http: 503 },
  // The request may succeed once the journal's files can be written again.
  WAVEOS_E_JOURNAL_READONLY: { exit: ExitCode.runtime, http: 503 },
  WAVEOS_E_REBOOT_GUARD: runtime,
  // Sent by the uplink proxy to the apps that use it (never to the command), with the status of each refusal.
  WAVEOS_E_PROXY_REFUSED: { exit: ExitCode.runtime, http: 400, alsoHttp: [404, 405, 413, 415, 422, 429, 502, 503] },
  WAVEOS_E_BUNDLE_FORMAT: verification,
  WAVEOS_E_BUNDLE_SIGNATURE: verification,
  WAVEOS_E_BUNDLE_HASH: verification,
  WAVEOS_E_BUNDLE_PATH: verification,
  WAVEOS_E_BUNDLE_LIMIT: verification,
  WAVEOS_E_BUNDLE_EXPIRED: verification,
  WAVEOS_E_BUNDLE_VERSION: verification,
  WAVEOS_E_BUNDLE_CONTENT: verification,
  WAVEOS_E_BUNDLE_FAILED: verification,
  WAVEOS_E_BUNDLE_ROLLED_BACK: runtime,
  WAVEOS_E_BUNDLE_BUSY: runtime,
} as const satisfies Record<string, ErrorCodeSpec>;
export type ErrorCode = keyof typeof ErrorCodes;

/** Whether `s` is one of WaveOS's codes (e.g. one read from an API answer). */
export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && Object.hasOwn(ErrorCodes, s);
}

/** The HTTP status the control API answers a thrown error of this code with. */
export function httpStatusOf(code: ErrorCode): number {
  return ErrorCodes[code].http;
}

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
    return ErrorCodes[this.code].exit;
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
