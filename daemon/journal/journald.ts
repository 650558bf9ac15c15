import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as UnixDgram from 'unix-dgram';
import type { Logger } from '../core/index.js';
import type { JournalEvent } from './event.js';
import { SEVERITIES, type Severity } from './severity.js';

/** syslog priorities (sd-daemon(3)): what `journalctl -p` filters on. */
export const EVENT_PRIORITY: Readonly<Record<Severity, number>> = { info: 6, notice: 5, warning: 4, error: 3, critical: 2 };

/** The socket journald reads native entries from. */
export const JOURNALD_SOCKET = '/run/systemd/journal/socket';

/** One field of the native protocol: `KEY=value\n`, or the length-prefixed form when the value holds a newline. */
function field(key: string, value: string): Buffer {
  if (!value.includes('\n')) return Buffer.from(`${key}=${value}\n`);
  const v = Buffer.from(value);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(v.length));
  return Buffer.concat([Buffer.from(`${key}\n`), len, v, Buffer.from('\n')]);
}

/** A native journal entry for an event: MESSAGE is the reason in words, the rest are fields to filter on. */
export function journaldEntry(e: JournalEvent, runId: string): Buffer {
  return Buffer.concat([
    field('MESSAGE', `${e.kind}: ${e.reason}`),
    field('PRIORITY', String(EVENT_PRIORITY[e.severity])),
    field('SYSLOG_IDENTIFIER', 'waveos'),
    field('WAVEOS_EVENT_KIND', e.kind),
    field('WAVEOS_SEVERITY', e.severity),
    field('WAVEOS_SEQ', String(e.seq)),
    field('WAVEOS_RUN_ID', runId),
    field('WAVEOS_SOURCE', e.source),
  ]);
}

export interface EventMirrorOptions {
  /** Mirror events at or above this; `off` mirrors none. */
  minSeverity: Severity | 'off';
  runId: string;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** The native socket; tests point it at a socket of their own. */
  socketPath?: string;
}

/**
 * Mirrors committed journal events to the system log, so `journalctl -u waveos -p warning` shows a breaker
 * opening or safe mode. Under systemd (JOURNAL_STREAM set and journald's socket present) each event is a
 * native entry with its priority and WAVEOS_* fields; elsewhere it is a line of the daemon's own log at the
 * matching level. The journal stays the record: a lost datagram loses only the mirror line.
 */
export function eventMirror(opts: EventMirrorOptions): ((events: readonly JournalEvent[]) => void) | undefined {
  if (opts.minSeverity === 'off') return undefined;
  const min = SEVERITIES.indexOf(opts.minSeverity);
  const env = opts.env ?? process.env;
  const path = opts.socketPath ?? JOURNALD_SOCKET;
  const native = (env.JOURNAL_STREAM !== undefined || opts.socketPath !== undefined) && existsSync(path);
  let socket: ReturnType<typeof UnixDgram.createSocket> | undefined;
  if (native) {
    socket = (createRequire(import.meta.url)('unix-dgram') as typeof UnixDgram).createSocket('unix_dgram');
    socket.on('error', () => {});
  }
  return (events) => {
    for (const e of events) {
      if (SEVERITIES.indexOf(e.severity) < min) continue;
      if (socket) {
        const buf = journaldEntry(e, opts.runId);
        socket.send(buf, 0, buf.length, path);
        continue;
      }
      const data = { event: e.kind, seq: e.seq, severity: e.severity, source: e.source };
      if (e.severity === 'critical' || e.severity === 'error') opts.log.error(data, e.reason);
      else if (e.severity === 'warning') opts.log.warn(data, e.reason);
      else opts.log.info(data, e.reason);
    }
  };
}
