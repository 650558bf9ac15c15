import { createHash } from 'node:crypto';
import { type FileHandle, lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Header, Pax } from 'tar';
import type { ExportMeter } from './staged-file.js';

/** A tar block; every entry's header and body are padded to it, and the archive ends with two zero blocks. */
const BLOCK = 512;
const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
/** Compressed bytes per output piece: small pieces die young and cheap instead of piling up as external memory. */
const GZIP_CHUNK = 16 * 1024;
/** Compressed bytes the pack file may have pending before the compressor waits for the disk. */
const OUT_HIGH_WATER = 64 * 1024;

/** What node-tar's `portable` mode makes of a file's mode: permission bits, owner read/write, no group/other write. */
function portableMode(mode: number): number {
  return ((mode & 0o7777) | 0o600) & ~0o22;
}

/** The pack file: hashed, counted and written as the compressor produces, never more than OUT_HIGH_WATER pending. */
class PackOut extends Writable {
  private readonly hash = createHash('sha256');
  size = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly meter?: ExportMeter,
  ) {
    super({ highWaterMark: OUT_HIGH_WATER });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    // Counts the chunk being written and those queued behind it.
    this.meter?.writing?.(this.writableLength);
    void this.put(chunk).then(
      () => cb(),
      (e: Error) => cb(e),
    );
  }

  private async put(b: Buffer): Promise<void> {
    for (let off = 0; off < b.length; ) off += (await this.fh.write(b, off, b.length - off)).bytesWritten;
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export interface ArchiveOptions {
  /** Every entry's modification time (the pack's creation time). */
  mtime: Date;
  level: number;
  /** Read buffer for the entries' bodies (the export's staging buffer, free by now): halves alternate. */
  buf: Buffer;
  meter?: ExportMeter | undefined;
}

/**
 * The staged files, in `order`, as a gzip'd tar written to `file`: the same bytes node-tar's
 * `create({ portable, mtime, noDirRecurse })` makes (headers from its own Header and Pax), with bounded memory.
 * Each body is read into one half of `buf` while the compressor works on the other, so nothing is allocated
 * per piece and at most two halves are in flight; the compressor's output goes to the file as produced.
 */
export async function writeTarGz(staging: string, order: readonly string[], file: string, o: ArchiveOptions): Promise<{ size: number; sha256: string }> {
  const fh = await open(file, 'w', 0o640);
  try {
    const gz = createGzip({ level: o.level, chunkSize: GZIP_CHUNK });
    const out = new PackOut(fh, o.meter);
    const done = pipeline(gz, out);
    let sum: { size: number; sha256: string };
    try {
      sum = await feedAll(staging, order, gz, done, o, out);
    } catch (e) {
      gz.destroy();
      throw e;
    }
    await fh.sync();
    return sum;
  } finally {
    await fh.close();
  }
}

async function feedAll(staging: string, order: readonly string[], gz: ReturnType<typeof createGzip>, done: Promise<void>, o: ArchiveOptions, out: PackOut): Promise<{ size: number; sha256: string }> {
  // A failed write ends the pipeline; feeding stops at the next piece.
  let failed: unknown;
  done.catch((e: unknown) => (failed = e));
  let inFlight = 0;
  const feed = (b: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      if (failed !== undefined) return reject(failed as Error);
      inFlight += b.length;
      o.meter?.compressing?.(inFlight);
      gz.write(b, (e) => {
        inFlight -= b.length;
        if (e) reject(e);
        else resolve();
      });
    });
  const half = Math.floor(o.buf.length / 2 / BLOCK) * BLOCK;
  const halves = [o.buf.subarray(0, half), o.buf.subarray(half, 2 * half)] as const;
  let cur = 0;
  // The write of the other half: it must be consumed before that half is read into again.
  let previous: Promise<void> = Promise.resolve();
  for (const rel of order) {
    const st = await lstat(join(staging, rel));
    const size = st.isFile() ? st.size : 0;
    const header = new Header({ path: rel, mode: portableMode(st.mode), size, mtime: o.mtime, type: 'File' });
    await previous;
    if (header.encode()) {
      previous = feed(new Pax({ mtime: o.mtime, path: rel, size }).encode());
      await previous;
    }
    previous = feed(header.block as Buffer);
    if (size === 0) continue;
    const src = await open(join(staging, rel), 'r');
    try {
      for (let pos = 0; pos < size; ) {
        const into = halves[cur] as Buffer;
        const want = Math.min(into.length, size - pos);
        const { bytesRead } = await src.read(into, 0, want, pos);
        if (bytesRead <= 0) throw new Error(`${rel}: the staged file ended at ${pos} of ${size} bytes`);
        pos += bytesRead;
        let n = bytesRead;
        // The body is padded with zeros to the block, inside the last piece when it has room.
        const pad = pos === size ? (BLOCK - (size % BLOCK)) % BLOCK : 0;
        if (pad > 0 && n + pad <= into.length) {
          into.fill(0, n, n + pad);
          n += pad;
        }
        await previous;
        previous = feed(into.subarray(0, n));
        cur ^= 1;
        if (pad > 0 && n === bytesRead) {
          await previous;
          previous = feed(END_OF_ARCHIVE.subarray(0, pad));
        }
      }
    } finally {
      await src.close();
    }
  }
  await previous;
  await feed(END_OF_ARCHIVE);
  gz.end();
  await done;
  return { size: out.size, sha256: out.digest() };
}
