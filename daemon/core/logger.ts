import { createRequire } from 'node:module';
import type { Logger as PinoLogger, pino as PinoFactory } from 'pino';
import type PrettyFactory from 'pino-pretty';

// Loaded on first use: commands that never log (status, events) should not pay for pino at start. Each call
// is written out in full (`createRequire(import.meta.url)('name')`): scripts/bundle.mjs turns exactly that
// form into a bundled require, so the bundle carries the package and still loads it late.
const pinoLib = (): typeof PinoFactory => (createRequire(import.meta.url)('pino') as { pino: typeof PinoFactory }).pino;

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
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PrettyFactory;
    return pino(base, pretty({ sync: true, destination: opts.destination ?? 1, colorize: false }));
  }
  if (opts.destination) return pino(base, opts.destination);
  return pino(base, pino.destination({ dest: 1, sync: true }));
}

/** A logger that drops everything, for unit tests and offline commands. */
export function silentLogger(): Logger {
  return pinoLib()({ level: 'silent' });
}
