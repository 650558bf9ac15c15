import { closeSync, existsSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { fsyncDir } from '../core/atomic-file.js';
import type { StoredChunk } from './chunk-store.js';

/**
 * The head log (docs/formats/chunks.md, "Head log"): the samples of the open chunks, appended at each flush as one
 * record holding a piece (a chunk of the series' samples since the last flush) for every series appended to.
 * Files `<journal>.heads.<n>` beside the journal, append-only; a record is [version 1][u32 length][u32 CRC-32]
 * then `length` bytes of raw-deflated pieces. It exists because a flush into SQLite rewrites whole pages
 * twice (WAL frame, then checkpoint) — about 20 KiB per flush for 2 KiB of samples — where an append to a
 * file dirties the one or two pages the record lands in.
 */
export interface HeadPiece {
  series_id: number;
  /** First timestamp of the open chunk this piece belongs to: once a chunk of this series starting here is sealed, the piece is superseded. */
  head_start_ms: number;
  /** The piece: a chunk (chunk-codec) of the samples since the last flush. */
  data: Uint8Array;
}

export const HEAD_LOG_VERSION = 1;
const FRAME = 9;
/** A segment is closed once it holds this much; it is removed once every chunk with pieces in it is sealed. */
export const HEAD_SEGMENT_BYTES = 1 << 20;

export function segmentPrefix(dbPath: string): string {
  return `${basename(dbPath)}.heads.`;
}

/** The head log's segment files of a journal, oldest first. */
export function headSegments(dbPath: string): { n: number; path: string }[] {
  const dir = dirname(dbPath);
  const prefix = segmentPrefix(dbPath);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((f) => f.startsWith(prefix) && /^\d+$/.test(f.slice(prefix.length)))
    .map((f) => ({ n: Number(f.slice(prefix.length)), path: join(dir, f) }))
    .sort((a, b) => a.n - b.n);
}

function putVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

class Cursor {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.b.length) throw new Error('truncated varint');
      const x = this.b[this.pos++] as number;
      v += (x & 0x7f) * mul;
      if (x < 0x80) return v;
      mul *= 0x80;
    }
    throw new Error('varint too long');
  }
}

const zigzag = (v: number): number => (v < 0 ? -2 * v - 1 : 2 * v);
const unzigzag = (v: number): number => (v % 2 === 1 ? -(v + 1) / 2 : v / 2);

/** A piece's chunk header fields (chunk-codec layout): count at 1, first_t at 5, last_t at 13. */
function header(data: Uint8Array): { count: number; start: number; end: number } {
  if (data.length < 21) return { count: 0, start: 0, end: 0 };
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { count: dv.getUint32(1), start: Number(dv.getBigInt64(5)), end: Number(dv.getBigInt64(13)) };
}

export function encodeRecord(pieces: readonly HeadPiece[]): Buffer {
  const raw: number[] = [];
  for (const p of pieces) {
    putVarint(raw, p.series_id);
    putVarint(raw, zigzag(header(p.data).start - p.head_start_ms));
    putVarint(raw, p.data.length);
    for (const x of p.data) raw.push(x);
  }
  const body = deflateRawSync(Uint8Array.from(raw));
  const out = Buffer.alloc(FRAME + body.length);
  out[0] = HEAD_LOG_VERSION;
  out.writeUInt32BE(body.length, 1);
  out.writeUInt32BE(crc32(body), 5);
  body.copy(out, FRAME);
  return out;
}

function decodeBody(body: Uint8Array): HeadPiece[] {
  const raw = inflateRawSync(body);
  const c = new Cursor(raw);
  const out: HeadPiece[] = [];
  while (c.pos < raw.length) {
    const sid = c.varint();
    const back = unzigzag(c.varint());
    const len = c.varint();
    if (c.pos + len > raw.length) throw new Error('piece runs past its record');
    const data = raw.subarray(c.pos, c.pos + len);
    c.pos += len;
    out.push({ series_id: sid, head_start_ms: header(data).start - back, data: new Uint8Array(data) });
  }
  return out;
}

export interface SegmentRead {
  pieces: HeadPiece[];
  /** Records that fail their check with more after them: corruption, reported by the readers, never returned as samples. */
  corrupt: { path: string; offset: number; bytes: Uint8Array; message: string }[];
  /** Where the last whole record ends: a torn tail (a write a crash cut short) starts there. */
  goodEnd: number;
  size: number;
}

/** Reads one segment: whole records in order; a record cut short at the end (torn tail) is not one. */
export function readSegment(path: string, keepTail = false): SegmentRead {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    return { pieces: [], corrupt: [], goodEnd: 0, size: 0 };
  }
  const out: SegmentRead = { pieces: [], corrupt: [], goodEnd: 0, size: buf.length };
  let off = 0;
  while (off < buf.length) {
    if (off + FRAME > buf.length) break;
    const len = buf.readUInt32BE(off + 1);
    const end = off + FRAME + len;
    if (end > buf.length) break;
    const body = buf.subarray(off + FRAME, end);
    let message: string | undefined;
    if (buf[off] !== HEAD_LOG_VERSION) message = `version ${buf[off]}`;
    else if (crc32(body) !== buf.readUInt32BE(off + 5)) message = 'CRC-32 mismatch';
    if (message === undefined) {
      try {
        out.pieces.push(...decodeBody(body));
      } catch (e) {
        message = `does not decode: ${(e as Error).message}`;
      }
    }
    if (message !== undefined) {
      // The last record of the file failing its check is a write cut short (zeros or stale bytes where a power
      // cut left it): a torn tail. One with records after it was written whole once: corruption.
      if (end === buf.length && !keepTail) break;
      out.corrupt.push({ path, offset: off, bytes: new Uint8Array(buf.subarray(off, end)), message });
    }
    off = end;
    out.goodEnd = off;
  }
  return out;
}

/** Every piece in the head log, oldest first, and the records that fail their check (as chunks that do not decode). */
export function readHeadLog(dbPath: string): { pieces: HeadPiece[]; corrupt: StoredChunk[] } {
  const pieces: HeadPiece[] = [];
  const corrupt: StoredChunk[] = [];
  for (const s of [...headSegments(dbPath), { path: corruptFile(dbPath), keep: true }]) {
    const r = readSegment(s.path, 'keep' in s);
    pieces.push(...r.pieces);
    for (const c of r.corrupt) corrupt.push({ id: null, series_id: 0, start_ms: 0, end_ms: 0, count: 0, data: c.bytes });
  }
  return { pieces, corrupt };
}

/** Where records that failed their check are kept once their segment goes (still reported by every verify). */
export function corruptFile(dbPath: string): string {
  return `${dbPath}.heads.corrupt`;
}

/** Keeps records that failed their check, as they are, in the corrupt file (synced): evidence, never samples. */
export function keepCorrupt(dbPath: string, records: readonly Uint8Array[]): void {
  if (records.length === 0) return;
  const fd = openSync(corruptFile(dbPath), 'a', 0o640);
  try {
    for (const r of records) writeSync(fd, r);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(dirname(dbPath));
}

/** A piece as the readers see it: a chunk row of its series, `id` null (an open chunk). */
export function pieceRow(p: HeadPiece): StoredChunk {
  const h = header(p.data);
  return { id: null, series_id: p.series_id, start_ms: h.start, end_ms: h.end, count: h.count, data: p.data };
}

export const headKey = (seriesId: number, startMs: number): string => `${seriesId}:${startMs}`;

/**
 * The writer's side: appends a record and fdatasyncs it (one sync per flush); closes a segment at
 * HEAD_SEGMENT_BYTES and removes closed segments whose open chunks have all been sealed into the journal.
 */
export class HeadLogWriter {
  private fd: number | undefined;
  private n: number;
  private size = 0;
  /** For each segment: the open chunks (headKey) with pieces in it that are not sealed yet. */
  private readonly live = new Map<number, Set<string>>();
  private readonly segmentOf = new Map<string, Set<number>>();
  /** Sealed open chunks whose pieces are still in a segment (with others not sealed yet): see `lingering`. */
  private readonly sealedIn = new Map<string, Set<number>>();

  constructor(private readonly dbPath: string) {
    const segs = headSegments(dbPath);
    this.n = (segs[segs.length - 1]?.n ?? 0) + 1;
  }

  private path(n: number): string {
    return join(dirname(this.dbPath), `${segmentPrefix(this.dbPath)}${String(n).padStart(6, '0')}`);
  }

  append(pieces: readonly HeadPiece[]): void {
    if (pieces.length === 0) return;
    if (this.fd !== undefined && this.size >= HEAD_SEGMENT_BYTES) {
      closeSync(this.fd);
      this.fd = undefined;
      this.n++;
      this.removeDone();
    }
    if (this.fd === undefined) {
      this.fd = openSync(this.path(this.n), 'a', 0o640);
      this.size = fstatSync(this.fd).size;
      // The new file's name must survive a power cut as surely as the records it will hold.
      fsyncDir(dirname(this.dbPath));
    }
    const rec = encodeRecord(pieces);
    let off = 0;
    try {
      while (off < rec.length) off += writeSync(this.fd, rec, off, rec.length - off);
      fdatasyncSync(this.fd);
    } catch (e) {
      // A failed append (disk full) must not leave half a record for the next one to follow.
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        /* the torn tail is cut at the next open */
      }
      throw e;
    }
    this.size += rec.length;
    let keys = this.live.get(this.n);
    if (!keys) this.live.set(this.n, (keys = new Set()));
    for (const p of pieces) {
      const k = headKey(p.series_id, p.head_start_ms);
      keys.add(k);
      let segs = this.segmentOf.get(k);
      if (!segs) this.segmentOf.set(k, (segs = new Set()));
      segs.add(this.n);
    }
  }

  /** These open chunks are sealed in the journal (committed): segments left with none go. */
  sealed(keys: Iterable<string>): void {
    for (const k of keys) {
      const segs = this.segmentOf.get(k);
      if (!segs) continue;
      for (const n of segs) this.live.get(n)?.delete(k);
      this.segmentOf.delete(k);
      this.sealedIn.set(k, segs);
    }
    this.removeDone();
  }

  /**
   * Whether the pieces of this sealed chunk (headKey) are still in the log. Readers skip them because the
   * sealed chunk exists; so retention must not delete that chunk before the pieces' segment is gone, or
   * they would read as an open chunk again.
   */
  lingering(key: string): boolean {
    return this.sealedIn.has(key);
  }

  private removeDone(): void {
    let removed = false;
    for (const [n, keys] of this.live) {
      if (keys.size > 0) continue;
      if (n === this.n && this.fd !== undefined) {
        // The segment being written holds nothing unsealed: the next record starts a new one.
        closeSync(this.fd);
        this.fd = undefined;
        this.n++;
      }
      try {
        unlinkSync(this.path(n));
      } catch {
        /* gone already */
      }
      this.live.delete(n);
      for (const [k, segs] of this.sealedIn) if (segs.delete(n) && segs.size === 0) this.sealedIn.delete(k);
      removed = true;
    }
    // Synced, so that a power cut cannot bring back a file whose chunks retention deletes later.
    if (removed) fsyncDir(dirname(this.dbPath));
  }

  /** Removes every segment (all their chunks are sealed), synced. */
  clear(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    const segs = headSegments(this.dbPath);
    for (const s of segs) unlinkSync(s.path);
    if (segs.length > 0) fsyncDir(dirname(this.dbPath));
    this.live.clear();
    this.segmentOf.clear();
    this.sealedIn.clear();
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Moves a journal's head log aside with it (a quarantined journal): its series ids mean nothing to a new one. */
export function moveHeadLogAside(dbPath: string, to: (path: string) => string): string[] {
  const moved: string[] = [];
  for (const s of [...headSegments(dbPath), { path: corruptFile(dbPath) }]) {
    if (!existsSync(s.path)) continue;
    renameSync(s.path, to(s.path));
    moved.push(to(s.path));
  }
  return moved;
}
