import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { trimTornTail, writeFileAtomic } from '../core/index.js';

/** One accepted request waiting for delivery, as stored. */
export interface StoredRequest {
  id: number;
  key: string;
  route: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** base64 */
  body: string;
  accepted_at: string;
}

interface Entry {
  id: number;
  offset: number;
  length: number;
}

/**
 * An on-disk FIFO of accepted requests for one upstream: appended to `queue.jsonl` and fsync'd before the
 * client hears 202; `state.json` (replaced atomically) records the last delivered id, so that after a crash
 * delivery resumes at the first request not known to be delivered (at least once, never skipped). The file
 * is truncated whenever everything in it is delivered; while it holds `maxBytes`, new requests are refused.
 * The record type is the proxy's request by default; the fleet link's outbox keeps its messages in it too.
 */
export class DurableQueue<T extends { id: number } = StoredRequest> {
  private readonly file: string;
  private readonly stateFile: string;
  private fd: number;
  private size: number;
  private delivered: number;
  private nextId: number;
  private readonly entries: Entry[] = [];

  constructor(
    dir: string,
    private readonly maxBytes: number,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    this.file = join(dir, 'queue.jsonl');
    this.stateFile = join(dir, 'state.json');
    trimTornTail(this.file);
    this.delivered = existsSync(this.stateFile) ? ((JSON.parse(readFileSync(this.stateFile, 'utf8')) as { delivered_id: number }).delivered_id ?? 0) : 0;
    this.nextId = this.delivered + 1;
    this.fd = openSync(this.file, 'a+', 0o640);
    this.size = fstatSync(this.fd).size;
    this.load();
  }

  private load(): void {
    if (this.size === 0) return;
    const buf = readFileSync(this.file);
    let off = 0;
    while (off < buf.length) {
      const nl = buf.indexOf(0x0a, off);
      if (nl < 0) break;
      try {
        const id = (JSON.parse(buf.toString('utf8', off, nl)) as { id: number }).id;
        if (id > this.delivered) this.entries.push({ id, offset: off, length: nl - off });
        this.nextId = Math.max(this.nextId, id + 1);
      } catch {
        // a line that does not parse cannot be delivered; skip it
      }
      off = nl + 1;
    }
  }

  get depth(): number {
    return this.entries.length;
  }

  get bytes(): number {
    return this.size;
  }

  /** Appends and fsyncs; undefined when the queue is at its bound. */
  push(req: Omit<T, 'id'>): T | undefined {
    const stored = { id: this.nextId, ...req } as T;
    const line = Buffer.from(`${JSON.stringify(stored)}\n`);
    if (this.size + line.length > this.maxBytes) return undefined;
    let off = 0;
    try {
      while (off < line.length) off += writeSync(this.fd, line, off, line.length - off, this.size + off);
      fsyncSync(this.fd);
    } catch (e) {
      // no half line may stay behind a failed append
      ftruncateSync(this.fd, this.size);
      throw e;
    }
    this.entries.push({ id: stored.id, offset: this.size, length: line.length - 1 });
    this.size += line.length;
    this.nextId++;
    return stored;
  }

  peek(): T | undefined {
    const e = this.entries[0];
    if (!e) return undefined;
    const buf = Buffer.alloc(e.length);
    readSync(this.fd, buf, 0, e.length, e.offset);
    return JSON.parse(buf.toString('utf8')) as T;
  }

  /** Marks the head delivered (durably); empties the file once nothing is left in it. */
  ack(id: number): void {
    const e = this.entries[0];
    if (!e || e.id !== id) return;
    this.entries.shift();
    this.delivered = id;
    writeFileAtomic(this.stateFile, `${JSON.stringify({ delivered_id: id })}\n`);
    if (this.entries.length === 0) {
      ftruncateSync(this.fd, 0);
      fsyncSync(this.fd);
      this.size = 0;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
