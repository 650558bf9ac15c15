import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';

export interface DownloadResult {
  bytes: number;
  /** The offset the first resumed request (206) started at; 0 when no resume was needed. */
  resumedFrom: number;
  attempts: number;
}

/** A failure that another attempt cannot mend (a 404, a size or hash mismatch). */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function get(url: string, from: number, signal: AbortSignal): Promise<IncomingMessage> {
  const u = new URL(url);
  const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: 'GET', headers: from > 0 ? { range: `bytes=${from}-` } : {}, signal });
  return new Promise((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
}

/** One request: appends to `part` from its current size (206) or rewrites it (200). */
async function attempt(url: string, part: string, size: number, signal: AbortSignal): Promise<{ resumed: number }> {
  const have = sizeOf(part);
  const res = await get(url, have, signal);
  const status = res.statusCode ?? 0;
  if (status === 206) {
    const start = Number(/^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))?.[1] ?? -1);
    if (start !== have) {
      res.resume();
      throw new DownloadError(`the server resumed at byte ${start}, not at ${have}`, false);
    }
    await pipeline(res, createWriteStream(part, { flags: 'a' }), { signal });
    return { resumed: have };
  }
  if (status === 200) {
    await pipeline(res, createWriteStream(part, { flags: 'w' }), { signal });
    return { resumed: 0 };
  }
  res.resume();
  if (status === 416 && have >= size) return { resumed: 0 };
  throw new DownloadError(`HTTP ${status} for ${url}`, status >= 400 && status < 500 && status !== 408 && status !== 429);
}

async function sha256Of(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), h);
  return h.digest('hex');
}

/**
 * Downloads `url` into `file` through `file.part`, resuming with `Range` after a cut connection (attempts
 * with backoff until `deadlineMs`), then checks the size and sha256 the desired state gave. A part file left
 * by an earlier run is resumed too. On a mismatch the part file is removed and the error is permanent.
 */
export async function download(url: string, file: string, want: { size: number; sha256: string }, deadlineMs: number, signal: AbortSignal): Promise<DownloadResult> {
  const part = `${file}.part`;
  let attempts = 0;
  let resumedFrom = 0;
  for (let backoff = 500; ; backoff = Math.min(backoff * 2, 10_000)) {
    if (sizeOf(part) > want.size) rmSync(part, { force: true });
    if (sizeOf(part) === want.size) break;
    attempts++;
    try {
      const r = await attempt(url, part, want.size, signal);
      if (r.resumed > 0 && resumedFrom === 0) resumedFrom = r.resumed;
    } catch (e) {
      if (signal.aborted || (e instanceof DownloadError && e.permanent)) throw e;
      if (Date.now() + backoff > deadlineMs) throw new DownloadError(`gave up after ${attempts} attempts: ${(e as Error).message}`, false);
      await new Promise((r) => setTimeout(r, backoff));
    }
  }
  const got = await sha256Of(part);
  if (got !== want.sha256) {
    rmSync(part, { force: true });
    throw new DownloadError(`the download's sha256 is ${got}, the desired state says ${want.sha256}`, true);
  }
  renameSync(part, file);
  return { bytes: want.size, resumedFrom, attempts };
}
