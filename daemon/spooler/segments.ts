import { createReadStream, createWriteStream, readdirSync, statSync, unlinkSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { fsyncDir, trimTornTail } from '../core/index.js';

/** The file a source appends to; rotation renames it to the next numbered segment. */
export const CURRENT = 'current.log';
const SEGMENT_RE = /^(\d{8})\.log(\.gz)?$/;
const TMP_RE = /^\d{8}\.log\.gz\.tmp$/;

export interface Segment {
  readonly seq: number;
  readonly path: string;
  readonly gz: boolean;
  readonly size: number;
  readonly mtimeMs: number;
}

export function segmentName(seq: number, gz: boolean): string {
  return `${String(seq).padStart(8, '0')}.log${gz ? '.gz' : ''}`;
}

/** Rotated segments of one source, oldest first; a segment present both plain and compressed is listed once (compressed). */
export function listSegments(dir: string): Segment[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const bySeq = new Map<number, Segment>();
  for (const name of names) {
    const m = SEGMENT_RE.exec(name);
    if (!m) continue;
    const seq = Number(m[1]);
    const gz = m[2] !== undefined;
    const prev = bySeq.get(seq);
    if (prev && prev.gz) continue;
    try {
      const st = statSync(join(dir, name));
      bySeq.set(seq, { seq, path: join(dir, name), gz, size: st.size, mtimeMs: st.mtimeMs });
    } catch {
      // deleted by retention while we listed
    }
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

export interface RecoveryReport {
  trimmedBytes: number;
  removedTemp: number;
  finishedCompressions: number;
  /** Plain rotated segments still to compress. */
  toCompress: string[];
}

/**
 * Start-up repair of one source's folder after kill -9 or power loss: a half-written compression is undone
 * (its temp file removed, the plain segment kept), a finished one whose plain segment survived is completed
 * (the plain one removed), and torn last lines are trimmed. A rotation is a single rename, so it is either
 * done or not; both states are valid.
 */
export function recoverSourceDir(dir: string): RecoveryReport {
  const report: RecoveryReport = { trimmedBytes: 0, removedTemp: 0, finishedCompressions: 0, toCompress: [] };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return report;
    throw e;
  }
  const have = new Set(names);
  let changed = false;
  for (const name of names) {
    if (TMP_RE.test(name)) {
      unlinkSync(join(dir, name));
      report.removedTemp++;
      changed = true;
    }
  }
  for (const name of names) {
    const m = SEGMENT_RE.exec(name);
    if (!m || m[2] !== undefined) continue;
    if (have.has(`${name}.gz`)) {
      unlinkSync(join(dir, name));
      report.finishedCompressions++;
      changed = true;
    } else {
      report.trimmedBytes += trimTornTail(join(dir, name));
      report.toCompress.push(join(dir, name));
    }
  }
  report.trimmedBytes += trimTornTail(join(dir, CURRENT));
  if (changed) fsyncDir(dir);
  report.toCompress.sort();
  return report;
}

/**
 * Compresses a rotated segment beside itself: gzip into a temp file, fsync, rename, fsync the folder, then
 * remove the plain file. Runs in the thread pool (zlib streams), off the hot path. Returns the size saved.
 */
export async function compressSegment(plain: string, fsync: boolean): Promise<{ before: number; after: number }> {
  const gz = `${plain}.gz`;
  const tmp = `${gz}.tmp`;
  const before = statSync(plain).size;
  try {
    await pipeline(createReadStream(plain), createGzip({ level: 6 }), createWriteStream(tmp));
    if (fsync) {
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await rename(tmp, gz);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  const dir = plain.slice(0, plain.lastIndexOf('/'));
  if (fsync) fsyncDir(dir);
  await unlink(plain);
  if (fsync) fsyncDir(dir);
  return { before, after: statSync(gz).size };
}

/** Bytes one source folder holds: its current file and every rotated segment. */
export function sourceBytes(dir: string): number {
  let n = listSegments(dir).reduce((a, seg) => a + seg.size, 0);
  try {
    n += statSync(join(dir, CURRENT)).size;
  } catch {
    // no current file yet
  }
  return n;
}
