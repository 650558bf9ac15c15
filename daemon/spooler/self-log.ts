import { writeSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';

/**
 * A destination for the daemon's own logger that writes to a file descriptor (stdout) as before and also
 * offers each line to the spooler (source `waveos`). The copy never blocks the daemon: while the spooler
 * is not attached or lags, copies beyond `maxBuffered` bytes are dropped.
 */
export function teeLogDestination(
  fd = 1,
  maxBuffered = 256 * 1024,
  opts: { priority?: (line: Buffer) => number | undefined } = {},
): { destination: Writable; copy: PassThrough } {
  const copy = new PassThrough({ highWaterMark: maxBuffered });
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      const line = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      // journald reads a leading <N> as the line's priority (SyslogLevelPrefix=); the spool copy stays plain.
      const p = opts.priority?.(line);
      const buf = p === undefined ? line : Buffer.concat([Buffer.from(`<${p}>`), line]);
      try {
        let off = 0;
        while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      } catch {
        // stdout gone (closed terminal): the spool copy still matters
      }
      if (copy.writableLength < maxBuffered) copy.write(line);
      cb();
    },
  });
  return { destination, copy };
}

/** The syslog priority of a pino JSON line, from its `"level":N` (pino writes it first); none for other text. */
export function pinoLinePriority(line: Buffer): number | undefined {
  const m = /"level":(\d+)/.exec(line.toString('latin1', 0, 64));
  if (!m) return undefined;
  const level = Number(m[1]);
  return level >= 60 ? 2 : level >= 50 ? 3 : level >= 40 ? 4 : level >= 30 ? 6 : 7;
}
