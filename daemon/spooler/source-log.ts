import { closeSync, fstatSync, fsync, fsyncSync, ftruncateSync, mkdirSync, openSync, renameSync, write, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type Chaos, TokenBucket, fsyncDir } from '../core/index.js';
import { CURRENT, listSegments, segmentName } from './segments.js';
import type { FsyncPolicy, SourceSettings } from './settings.js';

/** A source's rate (per second, `burst_s` seconds of it saved up): a new bucket, or the old one keeping its tokens. */
function rebucket(old: TokenBucket | undefined, perSec: number | undefined, burstS: number, nowMono: number): TokenBucket | undefined {
  if (perSec === undefined) return undefined;
  const limits = { capacity: Math.max(1, perSec * burstS), refillPerSec: perSec };
  if (!old) return new TokenBucket({ ...limits, nowMs: nowMono });
  old.reconfigure(nowMono, limits);
  return old;
}

/** What a source's writer needs from the spooler around it. */
export interface SourceHost {
  readonly fsync: FsyncPolicy;
  readonly rotateBytes: number;
  readonly bufferBytes: number;
  readonly batchBytes: number;
  /** May `bytes` more be written? Frees space by the stated rule first; false means drop the batch. */
  reserve(bytes: number): boolean;
  /** Bytes added (positive) or removed (negative) from the spool. */
  account(delta: number): void;
  /** A write failed (disk full, I/O error): the lines are counted as dropped by the caller. */
  writeFailed(source: string, err: NodeJS.ErrnoException): void;
  rotated(source: string, plainPath: string): void;
  monoMs(): number;
  /** Failure injection at each write (test rigs only). */
  readonly chaos?: Chaos;
}

export interface SourceCounters {
  lines_written: number;
  bytes_written: number;
  suppressed_lines: number;
  suppressed_bytes: number;
  dropped_disk: number;
  dropped_backpressure: number;
  truncated_lines: number;
  redacted_chunks: number;
}

/**
 * One source's append-only log: batches enveloped lines in memory (bounded), writes them with one write in
 * flight at a time, rotates by size, and pauses its producers while the writer lags.
 */
export class SourceLog {
  readonly dir: string;
  private fd: number | undefined;
  private fileBytes = 0;
  /** When the current file got its first line (monotonic ms), for rotation by age. */
  firstLineMono: number | undefined;
  private nextSeq = 1;
  private pending: Buffer[] = [];
  pendingBytes = 0;
  private pendingLines = 0;
  private writing = false;
  private dirty = false;
  private readonly paused = new Set<{ pause(): void; resume(): void }>();
  private idleWaiters: (() => void)[] = [];
  readonly counters: SourceCounters = {
    lines_written: 0,
    bytes_written: 0,
    suppressed_lines: 0,
    suppressed_bytes: 0,
    dropped_disk: 0,
    dropped_backpressure: 0,
    truncated_lines: 0,
    redacted_chunks: 0,
  };
  /** Suppressed since the last summary, and since when (monotonic ms). */
  window = { lines: 0, bytes: 0, sinceMono: 0 };
  /** Dropped while the disk was full, since the last resume. */
  droppedWhileFull = 0;
  lineBucket: TokenBucket | undefined;
  byteBucket: TokenBucket | undefined;

  constructor(
    readonly name: string,
    spoolDir: string,
    public settings: SourceSettings,
    private readonly host: SourceHost,
    nowMono: number,
  ) {
    this.dir = join(spoolDir, name);
    this.applyRate(nowMono);
    const segs = listSegments(this.dir);
    this.nextSeq = (segs.at(-1)?.seq ?? 0) + 1;
  }

  applyRate(nowMono: number): void {
    const r = this.settings.rate;
    const lps = r?.lines_per_s;
    const bps = r?.bytes_per_s;
    const burst = r?.burst_s ?? 1;
    this.lineBucket = rebucket(this.lineBucket, lps, burst, nowMono);
    this.byteBucket = rebucket(this.byteBucket, bps, burst, nowMono);
  }

  /** Is there room for more in memory? In drop mode the caller drops when not. */
  get full(): boolean {
    return this.pendingBytes >= this.host.bufferBytes;
  }

  get isPaused(): boolean {
    return this.paused.size > 0;
  }

  /** Queues already-enveloped bytes of `lines` lines. */
  enqueue(data: Buffer, lines: number): void {
    this.pending.push(data);
    this.pendingBytes += data.length;
    this.pendingLines += lines;
    if (this.pendingBytes >= this.host.batchBytes) this.flush();
  }

  /** Pauses a producer until the writer catches up (block mode). */
  hold(producer: { pause(): void; resume(): void }): void {
    if (this.paused.has(producer)) return;
    this.paused.add(producer);
    producer.pause();
  }

  forget(producer: { pause(): void; resume(): void }): void {
    this.paused.delete(producer);
  }

  /** Drops whatever waits in memory (the disk is full): returns the number of lines dropped. */
  dropPending(): number {
    const n = this.pendingLines;
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingLines = 0;
    this.counters.dropped_disk += n;
    this.droppedWhileFull += n;
    this.maybeResume();
    return n;
  }

  private open(): void {
    if (this.fd !== undefined) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    this.fd = openSync(join(this.dir, CURRENT), 'a', 0o640);
    this.fileBytes = fstatSync(this.fd).size;
    // a file left by the previous run is aged from now: its first line's time is not worth a read here
    this.firstLineMono = this.fileBytes === 0 ? undefined : this.host.monoMs();
  }

  get currentBytes(): number {
    return this.fileBytes;
  }

  /** Renames the current file to the next segment; its compression happens later, elsewhere. */
  rotate(): boolean {
    if (this.writing || this.fd === undefined || this.fileBytes === 0) return false;
    if (this.host.fsync !== 'none') {
      try {
        fsyncSync(this.fd);
      } catch {
        // an fsync failure on a full disk must not stop the rotation
      }
    }
    closeSync(this.fd);
    this.fd = undefined;
    const plain = join(this.dir, segmentName(this.nextSeq, false));
    renameSync(join(this.dir, CURRENT), plain);
    if (this.host.fsync !== 'none') fsyncDir(this.dir);
    this.nextSeq++;
    this.fileBytes = 0;
    this.firstLineMono = undefined;
    this.host.rotated(this.name, plain);
    return true;
  }

  /** Writes what is pending, one write in flight; never throws. */
  flush(): void {
    if (this.writing || this.pendingBytes === 0) return;
    const lines = this.pendingLines;
    const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingLines = 0;
    try {
      this.open();
      if (this.fileBytes > 0 && this.fileBytes + data.length > this.host.rotateBytes) {
        this.rotate();
        this.open();
      }
    } catch (e) {
      this.failed(lines, e as NodeJS.ErrnoException);
      return;
    }
    if (!this.host.reserve(data.length)) {
      this.counters.dropped_disk += lines;
      this.droppedWhileFull += lines;
      this.maybeResume();
      return;
    }
    this.firstLineMono ??= this.host.monoMs();
    this.writing = true;
    this.writeAll(data, 0, lines);
  }

  private writeAll(data: Buffer, off: number, lines: number): void {
    const fd = this.fd as number;
    const injected = this.host.chaos?.draws('spool.write') ?? {};
    if (injected.error) {
      // A torn write, as a failing disk leaves one: half of what remains reaches the file, then the error.
      let n = 0;
      try {
        n = writeSync(fd, data, off, (data.length - off) >> 1);
      } catch {
        // nothing reached it
      }
      this.writeFailed(data, off + n, lines, injected.error);
      return;
    }
    if (injected.delayMs) {
      setTimeout(() => this.writeNow(fd, data, off, lines), injected.delayMs);
      return;
    }
    this.writeNow(fd, data, off, lines);
  }

  private writeNow(fd: number, data: Buffer, off: number, lines: number): void {
    write(fd, data, off, data.length - off, null, (err, n) => {
      if (err) {
        this.writeFailed(data, off, lines, err);
        return;
      }
      if (off + n < data.length) {
        this.writeAll(data, off + n, lines);
        return;
      }
      this.fileBytes += data.length;
      this.counters.bytes_written += data.length;
      this.counters.lines_written += lines;
      this.dirty = true;
      if (this.host.fsync === 'every-batch') fsync(fd, () => this.written());
      else this.written();
    });
  }

  /** A batch whose write failed after `written` bytes: keep its whole lines, count the rest as dropped. */
  private writeFailed(data: Buffer, written: number, lines: number, err: NodeJS.ErrnoException): void {
    this.writing = false;
    const kept = this.keepCompleteLines(data, written);
    this.host.account(-(data.length - kept.bytes));
    this.failed(lines - kept.lines, err);
  }

  /**
   * A write that failed half-way (disk full) may have left half a line: cut the file back to the last
   * complete line of what was written, so that no torn line stays behind.
   */
  private keepCompleteLines(data: Buffer, off: number): { bytes: number; lines: number } {
    const keep = off === 0 ? 0 : data.lastIndexOf(0x0a, off - 1) + 1;
    if (keep < off) {
      try {
        ftruncateSync(this.fd as number, this.fileBytes + keep);
      } catch {
        // the next start trims the torn tail
      }
    }
    const lines = countNewlines(data.subarray(0, keep), 0);
    this.fileBytes += keep;
    this.counters.bytes_written += keep;
    this.counters.lines_written += lines;
    return { bytes: keep, lines };
  }

  private written(): void {
    this.writing = false;
    // a batch that crossed the size limit closes the file now, so that files stay near rotate_bytes
    if (this.fileBytes >= this.host.rotateBytes) {
      try {
        this.rotate();
      } catch (e) {
        this.host.writeFailed(this.name, e as NodeJS.ErrnoException);
      }
    }
    if (this.pendingBytes >= this.host.batchBytes) this.flush();
    if (!this.writing) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
    this.maybeResume();
  }

  private failed(lines: number, err: NodeJS.ErrnoException): void {
    this.counters.dropped_disk += lines;
    this.droppedWhileFull += lines;
    this.host.writeFailed(this.name, err);
    for (const w of this.idleWaiters.splice(0)) w();
    this.maybeResume();
  }

  private maybeResume(): void {
    if (this.paused.size === 0 || this.pendingBytes > this.host.bufferBytes / 2) return;
    const list = [...this.paused];
    this.paused.clear();
    for (const p of list) p.resume();
  }

  /** Resolves once nothing is pending or in flight (or the disk refused it). */
  async drain(): Promise<void> {
    for (let i = 0; i < 1000 && (this.writing || this.pendingBytes > 0); i++) {
      this.flush();
      if (this.writing) await new Promise<void>((r) => this.idleWaiters.push(r));
    }
  }

  fsyncIfDirty(): void {
    if (!this.dirty || this.fd === undefined || this.writing) return;
    this.dirty = false;
    fsync(this.fd, () => undefined);
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      if (this.host.fsync !== 'none' && this.dirty) fsyncSync(this.fd);
    } catch {
      // closing still matters more
    }
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function countNewlines(data: Buffer, from: number): number {
  let n = 0;
  let i = data.indexOf(0x0a, from);
  while (i >= 0) {
    n++;
    i = data.indexOf(0x0a, i + 1);
  }
  return n;
}

