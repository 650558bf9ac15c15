import { writeSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';

/**
 * A destination for the daemon's own logger that writes to a file descriptor (stdout) as before and also
 * offers each line to the spooler (source `waveos`). The copy never blocks the daemon: while the spooler
 * is not attached or lags, copies beyond `maxBuffered` bytes are dropped.
 */
export function teeLogDestination(fd = 1, maxBuffered = 256 * 1024): { destination: Writable; copy: PassThrough } {
  const copy = new PassThrough({ highWaterMark: maxBuffered });
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      try {
        let off = 0;
        while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      } catch {
        // stdout gone (closed terminal): the spool copy still matters
      }
      if (copy.writableLength < maxBuffered) copy.write(buf);
      cb();
    },
  });
  return { destination, copy };
}
