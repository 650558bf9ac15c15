import { existsSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { WaveosError } from '../core/index.js';
import { CURRENT, listSegments } from './segments.js';
import { listSourceDirs } from './spooler.js';
import { type SpoolLine, parseSpoolLine } from './spool-line.js';

export { type SpoolLine, parseSpoolLine };

export interface ReadOptions {
  /** ISO-8601 UTC: lines stamped before it are skipped. */
  since?: string;
  /** Plain text a line must contain. */
  grep?: string;
  /** Keep reading as lines arrive, across rotations, until the signal aborts. */
  follow?: boolean;
  signal?: AbortSignal;
  pollMs?: number;
}

export function listSources(spoolDir: string): string[] {
  return listSourceDirs(spoolDir).sort();
}

/** Complete lines from `start` (decompressed bytes), and how many bytes they took. */
async function* linesOf(path: string, gz: boolean, start: number, acc: { bytes: number }, wholeTail: boolean): AsyncGenerator<string> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    // compressed meanwhile: the plain file went once its .gz was complete
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !gz && !path.endsWith('current.log')) {
      yield* linesOf(`${path}.gz`, true, start, acc, wholeTail);
    }
    return;
  }
  const input: Readable = gz ? fh.createReadStream().pipe(createGunzip()) : fh.createReadStream({ start });
  let skip = gz ? start : 0;
  let carry: Buffer = Buffer.alloc(0);
  try {
    for await (const c of input as AsyncIterable<Buffer>) {
      let chunk = c;
      if (skip > 0) {
        if (chunk.length <= skip) {
          skip -= chunk.length;
          continue;
        }
        chunk = chunk.subarray(skip);
        skip = 0;
      }
      let buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      let from = 0;
      let nl = buf.indexOf(0x0a, from);
      while (nl >= 0) {
        acc.bytes += nl + 1 - from;
        yield buf.toString('utf8', from, nl);
        from = nl + 1;
        nl = buf.indexOf(0x0a, from);
      }
      buf = buf.subarray(from);
      carry = Buffer.from(buf);
    }
  } catch (e) {
    // a file removed by retention while read, or a truncated gzip: what was read stands
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && !gz) throw e;
  }
  if (wholeTail && carry.length > 0) {
    acc.bytes += carry.length;
    yield carry.toString('utf8');
  }
}

async function inode(path: string): Promise<number | undefined> {
  try {
    const fh = await open(path, 'r');
    try {
      return (await fh.stat()).ino;
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });
}

/**
 * A source's lines in order: rotated segments oldest first (compressed or not), then the current file;
 * with `follow`, new lines as they are written, carrying on through rotations.
 */
export async function* readSpool(spoolDir: string, source: string, opts: ReadOptions = {}): AsyncGenerator<string> {
  const dir = join(spoolDir, source);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(source) || !existsSync(dir)) {
    const known = listSources(spoolDir);
    throw new WaveosError(
      'WAVEOS_E_NOT_FOUND',
      `no spooled logs for "${source}" under ${spoolDir} (${known.length ? `sources: ${known.join(', ')}` : 'no source has logged yet'})`,
    );
  }
  // envelopes carry UTC `…Z` times: compare against the same form, whatever offset the caller used
  const since = opts.since === undefined ? undefined : new Date(opts.since).toISOString();
  const keep = (l: string): boolean => (since === undefined || l.slice(0, 24) >= since) && (opts.grep === undefined || l.includes(opts.grep));
  const sinceMs = since === undefined ? undefined : Date.parse(since);
  let lastSeq = 0;
  for (const seg of listSegments(dir)) {
    lastSeq = seg.seq;
    if (sinceMs !== undefined && seg.mtimeMs < sinceMs) continue;
    for await (const l of linesOf(seg.path, seg.gz, 0, { bytes: 0 }, true)) if (keep(l)) yield l;
  }
  const current = join(dir, CURRENT);
  let ino = await inode(current);
  const acc = { bytes: 0 };
  for await (const l of linesOf(current, false, 0, acc, !opts.follow)) if (keep(l)) yield l;
  if (!opts.follow) return;
  let offset = acc.bytes;
  while (!opts.signal?.aborted) {
    await sleep(opts.pollMs ?? 250, opts.signal);
    if (opts.signal?.aborted) break;
    const now = await inode(current);
    if (ino !== undefined && now !== ino) {
      // the file we were reading was rotated: finish it under its new name, then any later segments
      const newer = listSegments(dir).filter((s) => s.seq > lastSeq);
      newer.forEach((s) => (lastSeq = s.seq));
      for (const [i, seg] of newer.entries()) {
        for await (const l of linesOf(seg.path, seg.gz, i === 0 ? offset : 0, { bytes: 0 }, true)) if (keep(l)) yield l;
      }
      offset = 0;
    }
    ino = now;
    if (now === undefined) continue;
    const a = { bytes: 0 };
    for await (const l of linesOf(current, false, offset, a, false)) if (keep(l)) yield l;
    offset += a.bytes;
  }
}
