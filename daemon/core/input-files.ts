import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The most bytes of each input the daemon (and the offline commands) parse, in one place; docs/config.md and
 * docs/policy.md list them. Each is checked against the file's size before a byte is parsed, so an input
 * cannot make the parser's memory grow past a known multiple of it.
 */
export const INPUT_LIMITS = {
  /** etc/waveos/waveos.yaml, or the file given with --config. */
  configFile: 1 * MiB,
  /** One policy file. */
  policyFile: 256 * KiB,
  /** Every policy file of every folder together. */
  policySet: 2 * MiB,
  /** A bundle's manifest.json (and its manifest.sig), for the bundle scanner to check before JSON.parse. */
  bundleManifest: 4 * MiB,
  /** A trusted key file in etc/waveos/keys/, a signing key. */
  keyFile: 16 * KiB,
  /** A control API request body. */
  apiBody: 64 * KiB,
} as const;

/** "256 KiB", "2 MiB": a limit as a sentence says it. */
export function formatBytes(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} bytes`;
}

/** What kind of thing a non-regular directory entry is, in words. */
export function fileTypeOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return st.isFile() ? 'a regular file' : 'an unknown file type';
}

export type InputRead =
  | { ok: true; text: string; bytes: number }
  | { ok: false; reason: 'not-regular'; message: string; type: string }
  | { ok: false; reason: 'too-large' | 'unreadable'; message: string; code?: string };

/**
 * Reads a whole input file that must be a regular file of at most `maxBytes`, without ever blocking: a FIFO,
 * device or socket is refused by lstat/stat first, the open is non-blocking (so one swapped in after the check
 * does not block either) and the opened descriptor is checked again with fstat before a byte is read. The size
 * is checked before reading, and the read stops one byte past the limit in case the file grows meanwhile.
 */
export function readInputFile(file: string, maxBytes: number): InputRead {
  let fd: number;
  try {
    const l = lstatSync(file);
    const st = l.isSymbolicLink() ? statSync(file) : l;
    if (!st.isFile()) return notRegular(st);
    if (st.size > maxBytes) return tooLarge(st.size, maxBytes);
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    return unreadable(e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return notRegular(st);
    if (st.size > maxBytes) return tooLarge(st.size, maxBytes);
    const buf = Buffer.allocUnsafe(Math.min(maxBytes, st.size) + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > maxBytes) return tooLarge(n, maxBytes, 'at least ');
      if (n === buf.length) break;
    }
    return { ok: true, text: buf.subarray(0, n).toString('utf8'), bytes: n };
  } catch (e) {
    return unreadable(e);
  } finally {
    closeSync(fd);
  }
}

function notRegular(st: Stats): InputRead {
  const type = fileTypeOf(st);
  return { ok: false, reason: 'not-regular', message: `is ${type}, not a regular file`, type };
}

function tooLarge(size: number, maxBytes: number, atLeast = ''): InputRead {
  return { ok: false, reason: 'too-large', message: `is ${atLeast}${size} bytes, over the limit of ${formatBytes(maxBytes)} for this file` };
}

function unreadable(e: unknown): InputRead {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code ?? (e as Error).message);
  return { ok: false, reason: 'unreadable', message: `cannot be read: ${why}`, ...(code === undefined ? {} : { code }) };
}

export interface DirScan {
  /** Regular files (or links to one) whose names pass the filter, sorted. */
  files: string[];
  /** Entries that pass the filter but are not regular files: skipped, never opened. */
  skipped: { file: string; type: string }[];
}

/** Lists a folder's input files; what is not a regular file is reported, not opened. A missing folder is empty. */
export function scanInputDir(dir: string, accept: (name: string) => boolean): DirScan {
  const out: DirScan = { files: [], skipped: [] };
  let names: string[];
  try {
    names = readdirSync(dir).filter(accept).sort();
  } catch {
    return out;
  }
  for (const n of names) {
    const file = join(dir, n);
    try {
      const l = lstatSync(file);
      const st = l.isSymbolicLink() ? statSync(file) : l;
      if (st.isFile()) out.files.push(file);
      else out.skipped.push({ file, type: fileTypeOf(st) });
    } catch {
      // Gone since the listing, or a dangling link: nothing to read.
    }
  }
  return out;
}
