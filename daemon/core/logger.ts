import { createRequire } from 'node:module';
import type { Logger as PinoLogger, pino as PinoFactory } from 'pino';
import type PrettyFactory from 'pino-pretty';

// Loaded on first use: commands that never log (status, events) should not pay for pino at start.
const load = createRequire(import.meta.url);
const pinoLib = (): typeof PinoFactory => (load('pino') as { pino: typeof PinoFactory }).pino;

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
  const pino = pinoLib();
  if (opts.format === 'pretty') {
    const pretty = load('pino-pretty') as typeof PrettyFactory;
    return pino(base, pretty({ sync: true, destination: opts.destination ?? 1, colorize: false }));
  }
  if (opts.destination) return pino(base, opts.destination);
  return pino(base, pino.destination({ dest: 1, sync: true }));
}

/** A logger that drops everything, for unit tests and offline commands. */
export function silentLogger(): Logger {
  return pinoLib()({ level: 'silent' });
}
