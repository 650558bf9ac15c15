import { type Logger as PinoLogger, pino } from 'pino';
import pretty from 'pino-pretty';

export type Logger = PinoLogger;
export type LogFormat = 'json' | 'pretty';

/** Paths pino masks wherever they appear in a log object, so secrets never reach journald. */
export const DEFAULT_REDACT = [
  'token',
  'password',
  'secret',
  'authorization',
  '*.token',
  '*.password',
  '*.secret',
  '*.authorization',
  '*.headers.authorization',
];

export interface LoggerOptions {
  level?: string;
  format?: LogFormat;
  redact?: readonly string[];
  /** Where lines go; stdout unless a test captures them. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const base = {
    level: opts.level ?? 'info',
    base: { pid: process.pid },
    redact: { paths: [...DEFAULT_REDACT, ...(opts.redact ?? [])], censor: '[redacted]' },
  };
  if (opts.format === 'pretty') {
    return pino(base, pretty({ sync: true, destination: opts.destination ?? 1, colorize: false }));
  }
  if (opts.destination) return pino(base, opts.destination);
  return pino(base, pino.destination({ dest: 1, sync: true }));
}

/** A logger that drops everything, for unit tests and offline commands. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
