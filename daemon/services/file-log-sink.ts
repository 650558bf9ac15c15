import { type WriteStream, createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { type LogSink, type Paths, spoolCurrentLog } from '../core/index.js';

/**
 * A minimal LogSink until the spooler is wired in: appends each service's output to
 * `var/log/waveos/spool/<service>/current.log`. It blocks (pauses the pipe) while the file write lags,
 * so a flooding child waits on a full pipe instead of growing the daemon's memory.
 */
export class FileLogSink implements LogSink {
  private readonly files = new Map<string, WriteStream>();

  constructor(private readonly paths: Paths) {}

  private file(source: string): WriteStream {
    let f = this.files.get(source);
    if (!f) {
      const path = spoolCurrentLog(this.paths, source);
      mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
      f = createWriteStream(path, { flags: 'a', mode: 0o640 });
      f.on('error', () => {
        // a full or vanished disk must not take the daemon down; output is lost, the service keeps running
      });
      this.files.set(source, f);
    }
    return f;
  }

  attach(source: string, stream: Readable, _streamName: 'stdout' | 'stderr'): void {
    const out = this.file(source);
    stream.on('data', (chunk: Buffer) => {
      if (!out.write(chunk)) {
        stream.pause();
        out.once('drain', () => stream.resume());
      }
    });
    stream.on('error', () => {});
  }

  close(): void {
    for (const f of this.files.values()) f.end();
    this.files.clear();
  }
}
