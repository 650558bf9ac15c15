import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FileEntry } from './manifest.js';

/**
 * What an export holds in memory at once, told as it happens (test rigs count it; the export does not
 * depend on it). Every byte the export buffers is in one of these places.
 */
export interface ExportMeter {
  /** A buffer the export allocated for itself, of this many bytes. */
  allocated?(bytes: number): void;
  /** Bytes encoded into the staging buffer and not yet written to their file, after each flush's fill. */
  staged?(bytes: number): void;
  /** Bytes of staged files handed to the compressor and not yet consumed by it. */
  compressing?(bytes: number): void;
  /** Compressed bytes handed to the pack file and not yet written. */
  writing?(bytes: number): void;
}

/** The staging buffer of one export: every staged file encodes into it in turn, then the archive reads through it. */
export const STAGE_BUFFER = 1024 * 1024;

/** Room a string of this many UTF-16 units may need as UTF-8 (three bytes per unit at most). */
const utf8Max = (units: number): number => 3 * units;

/**
 * A file in the staging folder, hashed and counted as it is written. Text is encoded into the export's one
 * staging buffer, which goes to the file when full (the next write waiting for it): no buffer per piece left
 * for the collector. Hot loops write bytes straight into `buf` at `used` after asking for `room`.
 */
export class StagedFile {
  private readonly hash = createHash('sha256');
  private size = 0;
  private readonly full: string;
  private fh: FileHandle | undefined;
  used = 0;

  constructor(
    staging: string,
    readonly path: string,
    readonly buf: Buffer,
    private readonly meter?: ExportMeter,
  ) {
    this.full = join(staging, path);
    mkdirSync(dirname(this.full), { recursive: true, mode: 0o750 });
  }

  /** Free bytes left in the buffer before it must be written out. */
  get free(): number {
    return this.buf.length - this.used;
  }

  /** Encodes `s` into the buffer if it surely fits (true), without waiting; false: call `write`. */
  tryWrite(s: string): boolean {
    if (utf8Max(s.length) > this.buf.length - this.used) return false;
    this.used += this.buf.write(s, this.used);
    return true;
  }

  /** Text or bytes of any length, in buffer-sized pieces: a long text is never encoded whole. */
  async write(data: string | Buffer): Promise<void> {
    if (data.length === 0) return;
    if (typeof data !== 'string') {
      for (let off = 0; off < data.length; ) {
        if (this.free === 0) await this.flush();
        const n = data.copy(this.buf, this.used, off);
        this.used += n;
        off += n;
      }
      return;
    }
    for (let from = 0; from < data.length; ) {
      if (this.free < 8) await this.flush();
      let end = Math.min(data.length, from + Math.floor(this.free / 3));
      // A surrogate pair stays in one piece (a lone half would encode as U+FFFD).
      const last = data.charCodeAt(end - 1);
      if (end < data.length && last >= 0xd800 && last <= 0xdbff) end--;
      this.used += this.buf.write(from === 0 && end === data.length ? data : data.slice(from, end), this.used);
      from = end;
    }
  }

  /** Writes the buffer's bytes to the file (and the hash), emptying it. */
  async flush(): Promise<void> {
    if (this.used === 0) return;
    this.meter?.staged?.(this.used);
    const b = this.buf.subarray(0, this.used);
    this.hash.update(b);
    this.size += b.length;
    const fh = await this.handle();
    for (let off = 0; off < b.length; ) off += (await fh.write(b, off, b.length - off)).bytesWritten;
    this.used = 0;
  }

  async close(): Promise<FileEntry> {
    await this.flush();
    const fh = await this.handle();
    this.fh = undefined;
    await fh.close();
    return { path: this.path, size: this.size, sha256: this.hash.digest('hex') };
  }

  private async handle(): Promise<FileHandle> {
    return (this.fh ??= await open(this.full, 'w', 0o640));
  }
}
