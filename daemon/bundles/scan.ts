import { createHash } from 'node:crypto';
import { chmodSync, closeSync, createReadStream, fsync, mkdirSync, openSync, readSync, statSync, symlinkSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Tar from 'tar';
import type { Parser, ReadEntry } from 'tar';
import { fsyncDir } from '../core/index.js';
import { type TrustedKey, verifyDetached } from './keys.js';
import {
  type FileEntry,
  MANIFEST_NAME,
  MAX_MANIFEST_BYTES,
  MAX_SIGNATURE_BYTES,
  type Manifest,
  PAYLOAD_PREFIX,
  SIGNATURE_NAME,
  computeBundleId,
  MANIFEST_SCHEMA_VERSION,
  escapingLinkReason,
  manifestSchema,
  resolveInTree,
  signatureFileSchema,
  unsafePathReason,
} from './manifest.js';
import { BundleRejection } from './rejection.js';
import { checkExtractedTree } from './tree-check.js';

export interface BundleLimits {
  /** Most bytes of the archive file, and of the payload it unpacks to. */
  maxBytes: number;
  maxFiles: number;
  maxPathLength: number;
  /** How many distinct trusted keys must have signed the manifest. */
  signatureThreshold: number;
}

export const DEFAULT_LIMITS: BundleLimits = { maxBytes: 2 * 1024 ** 3, maxFiles: 100_000, maxPathLength: 1024, signatureThreshold: 1 };

export interface ScanOptions {
  file: string;
  keys: readonly TrustedKey[];
  limits: BundleLimits;
  now: Date;
  /** When set, the payload is written under this directory as it is verified (files fsynced). */
  extractTo?: string;
  /** Certificates: files 0600 and directories 0700 whatever the manifest says. */
  strictModes?: boolean;
  /** Called after each extracted file (the fault-injection point for an interrupted staging). */
  onExtracted?: (count: number) => void;
  /** Bytes per read of the archive: bigger reads hash faster, smaller ones keep the resident set down. */
  readChunk?: number;
}

export interface VerifiedBundle {
  manifest: Manifest;
  manifestBytes: Buffer;
  signatureBytes: Buffer;
  signedBy: string[];
  payloadBytes: number;
  /** Regular files in the payload. */
  fileCount: number;
  /** Every entry: files, folders and links. */
  entryCount: number;
  archiveBytes: number;
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const TYPE_WORDS = { file: 'a regular file', dir: 'a folder', symlink: 'a symlink' } as const;

/** Magic numbers of compressed streams: a bundle is a plain tar, and the tar parser would inflate gzip unasked. */
const COMPRESSED: [string, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** Which compression the file starts with, if any. */
// tar is loaded by the first install or inspection, not by an idle daemon (docs/footprint.md).
function newParser(): Parser {
  const { Parser: TarParser } = createRequire(import.meta.url)('tar') as typeof Tar;
  return new TarParser({ strict: true });
}

function compressionOf(file: string): string | undefined {
  const head = Buffer.alloc(6);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  return COMPRESSED.find(([, magic]) => n >= magic.length && magic.every((b, i) => head[i] === b))?.[0];
}

/** A manifest whose signature checked out, with the tree it declares. */
export interface CheckedManifest {
  manifest: Manifest;
  signedBy: string[];
  byPath: Map<string, FileEntry>;
  /** Parent folders a schema-1 manifest implies without listing them. */
  implied: Set<string>;
}

function reject(code: ConstructorParameters<typeof BundleRejection>[0], check: string, message: string, detail: Record<string, unknown> = {}): never {
  throw new BundleRejection(code, check, message, detail);
}

/** Checks the signature(s) over the exact manifest bytes, then parses the manifest. */
export function checkManifest(mBytes: Buffer, sBytes: Buffer, o: Pick<ScanOptions, 'keys' | 'limits' | 'now'>): CheckedManifest {
  let sigDoc: unknown;
  try {
    sigDoc = JSON.parse(sBytes.toString('utf8'));
  } catch {
    reject('WAVEOS_E_BUNDLE_FORMAT', 'format.signature', `${SIGNATURE_NAME} is not JSON`);
  }
  const sigs = signatureFileSchema.safeParse(sigDoc);
  if (!sigs.success) reject('WAVEOS_E_BUNDLE_FORMAT', 'format.signature', `${SIGNATURE_NAME} is malformed: ${sigs.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const trusted = new Map(o.keys.map((k) => [k.key_id, k]));
  const signedBy: string[] = [];
  const unknown: string[] = [];
  const invalid: string[] = [];
  for (const s of sigs.data.signatures) {
    const k = trusted.get(s.key_id);
    if (!k) unknown.push(s.key_id);
    else if (verifyDetached(mBytes, s.sig, k)) {
      if (!signedBy.includes(s.key_id)) signedBy.push(s.key_id);
    } else invalid.push(s.key_id);
  }
  const trustedList = [...trusted.keys()].join(', ') || 'none';
  if (invalid.length > 0) {
    reject('WAVEOS_E_BUNDLE_SIGNATURE', 'signature.invalid', `the signature by trusted key ${invalid.join(', ')} does not match ${MANIFEST_NAME}: the manifest was changed after signing`, { key_ids: invalid });
  }
  if (signedBy.length === 0) {
    reject('WAVEOS_E_BUNDLE_SIGNATURE', 'signature.unknown_key', `signed by key ${unknown.join(', ')}, which is not a trusted key (trusted: ${trustedList})`, { key_ids: unknown, trusted: [...trusted.keys()] });
  }
  if (signedBy.length < o.limits.signatureThreshold) {
    reject('WAVEOS_E_BUNDLE_SIGNATURE', 'signature.threshold', `${signedBy.length} valid signature(s) by trusted keys; ${o.limits.signatureThreshold} are required`, { valid: signedBy.length, required: o.limits.signatureThreshold });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(mBytes.toString('utf8'));
  } catch {
    reject('WAVEOS_E_BUNDLE_FORMAT', 'manifest.invalid', `${MANIFEST_NAME} is not JSON`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const pathIssue = parsed.error.issues.find((i) => i.path.includes('path'));
    const msg = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    if (pathIssue) reject('WAVEOS_E_BUNDLE_PATH', 'path.unsafe', `${MANIFEST_NAME}: ${pathIssue.path.join('.')}: ${pathIssue.message}`);
    reject('WAVEOS_E_BUNDLE_FORMAT', 'manifest.invalid', `${MANIFEST_NAME} breaks the manifest schema: ${msg}`, { path: first?.path.join('.') });
  }
  const m = parsed.data;
  if (!signedBy.includes(m.key_id)) {
    reject('WAVEOS_E_BUNDLE_SIGNATURE', 'signature.key_id', `${MANIFEST_NAME} names key ${m.key_id}, which did not sign it (signed by ${signedBy.join(', ')})`);
  }
  const id = computeBundleId(m);
  if (id !== m.bundle_id) reject('WAVEOS_E_BUNDLE_FORMAT', 'manifest.bundle_id', `bundle_id ${m.bundle_id} does not match the manifest's content (${id})`);
  if (m.expires_at && Date.parse(m.expires_at) <= o.now.getTime()) {
    reject('WAVEOS_E_BUNDLE_EXPIRED', 'expired', `the bundle expired at ${m.expires_at} (now ${o.now.toISOString()})`, { expires_at: m.expires_at, now: o.now.toISOString() });
  }
  const tree = manifestTree(m, o.limits);
  return { manifest: m, signedBy, ...tree };
}

/**
 * The tree a manifest declares, checked as a whole: paths unique and within the limits, every parent folder
 * listed (schema 2; schema 1's are implied), and every symlink resolved through the declared tree — links
 * followed component by component — to an entry inside the payload.
 */
function manifestTree(m: Manifest, limits: BundleLimits): { byPath: Map<string, FileEntry>; implied: Set<string> } {
  let total = 0;
  const byPath = new Map<string, FileEntry>();
  for (const f of m.files) {
    if (byPath.has(f.path)) reject('WAVEOS_E_BUNDLE_PATH', 'entry.duplicate', `${MANIFEST_NAME} lists ${f.path} twice`);
    byPath.set(f.path, f);
    if (f.path.length > limits.maxPathLength) reject('WAVEOS_E_BUNDLE_LIMIT', 'limit.path', `path ${f.path.slice(0, 60)}… is ${f.path.length} characters long; the limit is ${limits.maxPathLength}`, { length: f.path.length, limit: limits.maxPathLength });
    if (f.type === 'file') total += f.size;
    else if (f.type === 'symlink') {
      const why = escapingLinkReason(f.path, f.target);
      if (why) reject('WAVEOS_E_BUNDLE_PATH', 'path.symlink_escape', `symlink ${f.path} ${why}`, { path: f.path, target: f.target });
    }
  }
  if (m.files.length > limits.maxFiles) reject('WAVEOS_E_BUNDLE_LIMIT', 'limit.files', `${m.files.length} entries (files, folders and links) in the payload; the limit is ${limits.maxFiles}`, { files: m.files.length, limit: limits.maxFiles });
  if (total > limits.maxBytes) reject('WAVEOS_E_BUNDLE_LIMIT', 'limit.size', `the payload is ${total} bytes; the limit is ${limits.maxBytes}`, { bytes: total, limit: limits.maxBytes });
  const implied = new Set<string>();
  for (const f of m.files) {
    if (m.schema_version === 1 && f.type === 'dir') reject('WAVEOS_E_BUNDLE_FORMAT', 'manifest.invalid', `${MANIFEST_NAME}: schema_version 1 cannot list folders (${f.path}); use schema_version ${MANIFEST_SCHEMA_VERSION}`);
    for (let i = f.path.indexOf('/'); i > 0; i = f.path.indexOf('/', i + 1)) {
      const parent = f.path.slice(0, i);
      const e = byPath.get(parent);
      if (e && e.type !== 'dir') reject('WAVEOS_E_BUNDLE_PATH', 'path.through_symlink', `${MANIFEST_NAME} lists ${f.path} below ${parent}, which is a ${e.type}, not a folder`, { path: f.path });
      if (!e && m.schema_version !== 1) reject('WAVEOS_E_BUNDLE_PATH', 'manifest.parent', `${MANIFEST_NAME} lists ${f.path} but not its folder ${parent}: every folder must be listed`, { path: f.path, parent });
      if (!e) implied.add(parent);
    }
  }
  if (implied.size > 0) {
    const withParents = new Map(byPath);
    for (const d of implied) withParents.set(d, { type: 'dir', path: d, mode: 0o755 });
    checkLinks(m, withParents);
  } else checkLinks(m, byPath);
  return { byPath, implied };
}

function checkLinks(m: Manifest, tree: ReadonlyMap<string, FileEntry>): void {
  for (const f of m.files) {
    if (f.type !== 'symlink') continue;
    const r = resolveInTree(tree, f.path);
    if (!r.ok) reject('WAVEOS_E_BUNDLE_PATH', 'path.symlink_escape', `symlink ${PAYLOAD_PREFIX}${f.path} → ${f.target} does not resolve inside the payload: it ${r.why}`, { path: f.path, target: f.target });
  }
}

/**
 * Verifies a bundle in one streaming pass — signature, manifest, every member's type, path, size and
 * sha256 — and, with `extractTo`, writes the payload as it goes. Nothing is held in memory but the
 * manifest and one read buffer. Throws a BundleRejection naming the first failed check.
 */
export function scanBundle(o: ScanOptions): Promise<VerifiedBundle> {
  let archiveBytes: number;
  try {
    archiveBytes = statSync(o.file).size;
  } catch (e) {
    return Promise.reject(new BundleRejection('WAVEOS_E_BUNDLE_FORMAT', 'format.unreadable', `${o.file}: cannot read the bundle: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
  }
  let compressed: string | undefined;
  try {
    compressed = compressionOf(o.file);
  } catch (e) {
    return Promise.reject(new BundleRejection('WAVEOS_E_BUNDLE_FORMAT', 'format.unreadable', `${o.file}: cannot read the bundle: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
  }
  if (compressed) {
    return Promise.reject(new BundleRejection('WAVEOS_E_BUNDLE_FORMAT', 'format.compressed', `${o.file} is ${compressed}-compressed; a bundle is a plain (uncompressed) tar: its signature covers the tar members, not a compressed stream`, { compression: compressed }));
  }
  // The archive adds headers and padding to the payload; allow for them, but not for an unbounded file.
  const archiveLimit = o.limits.maxBytes + MAX_MANIFEST_BYTES + o.limits.maxFiles * 1536 + 1024 * 1024;
  if (archiveBytes > archiveLimit) {
    return Promise.reject(new BundleRejection('WAVEOS_E_BUNDLE_LIMIT', 'limit.size', `the bundle file is ${archiveBytes} bytes; the limit is ${archiveLimit}`, { bytes: archiveBytes, limit: archiveLimit }));
  }
  return new Promise<VerifiedBundle>((resolve, rejectP) => new BundleScan(o, archiveBytes, resolve, rejectP).run());
}

/** One pass of scanBundle: the parser's entries in order, with what has been seen and written so far. */
class BundleScan {
  private readonly parser = newParser();
  private stopRead = false;
  private failed = false;
  private index = 0;
  private mBytes: Buffer | undefined;
  private sBytes: Buffer | undefined;
  private checked: CheckedManifest | undefined;
  private byPath = new Map<string, FileEntry>();
  private readonly seen = new Set<string>();
  private readonly links = new Set<string>();
  private readonly openFds = new Set<number>();
  private readonly syncs: Promise<void>[] = [];
  private readonly madeDirs = new Set<string>();
  /** Listed folders extracted: their modes are applied once everything below them is written. */
  private readonly dirModes: [string, number][] = [];
  private extracted = 0;
  private payloadBytes = 0;

  constructor(
    private readonly o: ScanOptions,
    private readonly archiveBytes: number,
    private readonly resolve: (v: VerifiedBundle) => void,
    private readonly rejectP: (e: unknown) => void,
  ) {}

  run(): void {
    const { parser, o } = this;
    parser.on('entry', (entry: ReadEntry) => {
      if (this.failed) {
        entry.resume();
        return;
      }
      try {
        this.handle(entry);
      } catch (e) {
        entry.resume();
        this.fail(e);
      }
    });
    parser.on('error', (e: Error) => this.fail(new BundleRejection('WAVEOS_E_BUNDLE_FORMAT', 'format.tar', `${o.file} is not a valid tar archive: ${e.message}`)));
    parser.on('end', () => {
      if (this.failed) return;
      this.finish().then(this.resolve, (e: unknown) => this.fail(e));
    });
    readInto(o.file, o.readChunk ?? READ_CHUNK, parser, () => this.stopRead).catch((e: unknown) =>
      this.fail(new BundleRejection('WAVEOS_E_BUNDLE_FORMAT', 'format.unreadable', `${o.file}: ${(e as Error).message}`)),
    );
  }

  private fail(e: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.stopRead = true;
    this.parser.emit('drain'); // wakes a read loop waiting for the parser, so it closes the file
    for (const fd of this.openFds) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.openFds.clear();
    this.rejectP(e);
  }

  private ensureDir(dir: string): void {
    if (this.madeDirs.has(dir)) return;
    mkdirSync(dir, { recursive: true, mode: this.o.strictModes ? 0o700 : 0o755 });
    this.madeDirs.add(dir);
  }

  private handle(entry: ReadEntry): void {
    const i = this.index++;
    const p = entry.path;
    if (i === 0 || i === 1) return this.head(i, entry);
    if (!this.checked) reject('WAVEOS_E_BUNDLE_FORMAT', 'format.order', `member ${p} comes before the manifest was complete`);
    if (p === PAYLOAD_PREFIX || p === PAYLOAD_PREFIX.slice(0, -1)) {
      if (entry.type !== 'Directory') reject('WAVEOS_E_BUNDLE_PATH', 'entry.unsupported', `${p} must be a directory`);
      entry.resume();
      return;
    }
    const rel = this.memberPath(entry);
    if (entry.type === 'Directory') return this.directory(entry, rel);
    if (entry.type === 'SymbolicLink') return this.symlink(entry, rel);
    if (!FILE_TYPES.has(entry.type)) reject('WAVEOS_E_BUNDLE_PATH', 'entry.unsupported', `member ${p} has the unsupported type ${entry.type}`, { path: p, type: entry.type });
    this.file(entry, rel);
  }

  /** The first two members: manifest.json then manifest.sig, read whole (they are small) and checked together. */
  private head(i: number, entry: ReadEntry): void {
    const p = entry.path;
    const want = i === 0 ? MANIFEST_NAME : SIGNATURE_NAME;
    if (p !== want || !FILE_TYPES.has(entry.type)) reject('WAVEOS_E_BUNDLE_FORMAT', 'format.order', `member ${i + 1} is ${p} (${entry.type}); a bundle starts with ${MANIFEST_NAME} then ${SIGNATURE_NAME}`);
    this.readSmall(entry, i === 0 ? MAX_MANIFEST_BYTES : MAX_SIGNATURE_BYTES, (b) => {
      if (i === 0) this.mBytes = b;
      else {
        this.sBytes = b;
        this.checked = checkManifest(this.mBytes as Buffer, this.sBytes, this.o);
        this.byPath = this.checked.byPath;
        if (this.o.extractTo) this.ensureDir(this.o.extractTo);
      }
    });
  }

  private readSmall(entry: ReadEntry, limit: number, done: (b: Buffer) => void): void {
    if (entry.size > limit) reject('WAVEOS_E_BUNDLE_LIMIT', 'limit.manifest', `${entry.path} is ${entry.size} bytes; the limit is ${limit}`);
    const chunks: Buffer[] = [];
    // Copied: the read buffers are reused, and these bytes are kept past the next read.
    entry.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
    entry.on('end', () => {
      if (this.failed) return;
      try {
        done(Buffer.concat(chunks));
      } catch (e) {
        this.fail(e);
      }
    });
  }

  /** The checks every payload member passes whatever its type; returns its path below payload/. */
  private memberPath(entry: ReadEntry): string {
    const p = entry.path;
    if (p.startsWith('/')) reject('WAVEOS_E_BUNDLE_PATH', 'path.absolute', `member ${p} has an absolute path`, { path: p });
    if (p.split('/').includes('..')) reject('WAVEOS_E_BUNDLE_PATH', 'path.dotdot', `member ${p} has a ".." component`, { path: p });
    if (!p.startsWith(PAYLOAD_PREFIX)) reject('WAVEOS_E_BUNDLE_PATH', 'file.extra', `member ${p} is outside payload/ and not listed in the manifest`, { path: p });
    const rel = entry.type === 'Directory' ? p.slice(PAYLOAD_PREFIX.length).replace(/\/$/, '') : p.slice(PAYLOAD_PREFIX.length);
    const why = unsafePathReason(rel);
    if (why) reject('WAVEOS_E_BUNDLE_PATH', 'path.unsafe', `member ${p} ${why}`, { path: p });
    const max = this.o.limits.maxPathLength;
    if (rel.length > max) reject('WAVEOS_E_BUNDLE_LIMIT', 'limit.path', `member path is ${rel.length} characters long; the limit is ${max}`);
    // A member below a symlink would be written wherever the link points: refuse it outright.
    const parts = rel.split('/');
    for (let k = 1; k < parts.length; k++) {
      const prefix = parts.slice(0, k).join('/');
      if (this.links.has(prefix)) reject('WAVEOS_E_BUNDLE_PATH', 'path.through_symlink', `member ${p} lies below the symlink ${PAYLOAD_PREFIX}${prefix}`, { path: p });
    }
    if (this.seen.has(rel)) reject('WAVEOS_E_BUNDLE_PATH', 'entry.duplicate', `member ${p} appears twice in the archive`, { path: p });
    this.seen.add(rel);
    if (entry.type === 'Link') {
      reject('WAVEOS_E_BUNDLE_PATH', 'entry.hardlink', `member ${p} is a hard link (to ${entry.linkpath ?? '?'}); bundles may not contain hard links`, { path: p, target: entry.linkpath });
    }
    if (entry.type === 'CharacterDevice' || entry.type === 'BlockDevice' || entry.type === 'FIFO') {
      reject('WAVEOS_E_BUNDLE_PATH', 'entry.device', `member ${p} is a ${entry.type}; bundles may not contain device nodes or FIFOs`, { path: p, type: entry.type });
    }
    return rel;
  }

  /** The manifest entry a member must match: listed, of the same type, with the same mode. */
  private listed<T extends FileEntry['type']>(entry: ReadEntry, rel: string, type: T): Extract<FileEntry, { type: T }> {
    const p = entry.path;
    const m = this.byPath.get(rel);
    if (!m) reject('WAVEOS_E_BUNDLE_PATH', 'file.extra', `member ${p} (${TYPE_WORDS[type]}) is not listed in the manifest`, { path: p });
    if (m.type !== type) reject('WAVEOS_E_BUNDLE_PATH', 'entry.type', `member ${p} is ${TYPE_WORDS[type]}; the manifest lists ${TYPE_WORDS[m.type]}`, { path: p, type, expected: m.type });
    if (m.type !== 'symlink') {
      const mode = (entry.mode ?? 0) & 0o7777;
      if (mode !== m.mode) reject('WAVEOS_E_BUNDLE_PATH', 'entry.mode', `member ${p} has mode 0${mode.toString(8)}; the manifest says 0${m.mode.toString(8)}`, { path: p, mode, expected: m.mode });
    }
    return m as Extract<FileEntry, { type: T }>;
  }

  private directory(entry: ReadEntry, rel: string): void {
    const m = this.listed(entry, rel, 'dir');
    if (this.o.extractTo) {
      const dest = join(this.o.extractTo, rel);
      this.ensureDir(dest);
      this.dirModes.push([dest, this.o.strictModes ? 0o700 : m.mode & 0o777]);
    }
    entry.resume();
  }

  private symlink(entry: ReadEntry, rel: string): void {
    const p = entry.path;
    const target = entry.linkpath ?? '';
    const escape = escapingLinkReason(rel, target);
    if (escape) reject('WAVEOS_E_BUNDLE_PATH', 'path.symlink_escape', `symlink ${p} ${escape}`, { path: p, target });
    const m = this.listed(entry, rel, 'symlink');
    if (m.target !== target) reject('WAVEOS_E_BUNDLE_HASH', 'hash.symlink', `symlink ${p} → ${target} differs from the manifest (→ ${m.target})`, { path: p });
    this.links.add(rel);
    if (this.o.extractTo) {
      const dest = join(this.o.extractTo, rel);
      this.ensureDir(dirname(dest));
      symlinkSync(target, dest);
    }
    entry.resume();
  }

  /** A regular file: its size and sha256 against the manifest, written (O_EXCL) and fsynced when extracting. */
  private file(entry: ReadEntry, rel: string): void {
    const p = entry.path;
    const m = this.listed(entry, rel, 'file');
    if (entry.size !== m.size) reject('WAVEOS_E_BUNDLE_HASH', 'hash.size', `member ${p} is ${entry.size} bytes; the manifest says ${m.size}`, { path: p, size: entry.size, expected: m.size });
    const hash = createHash('sha256');
    let fd: number | undefined;
    const dest = this.o.extractTo ? join(this.o.extractTo, rel) : undefined;
    if (dest) {
      this.ensureDir(dirname(dest));
      // O_EXCL: never write through something that is already there (a link planted earlier, say).
      fd = openSync(dest, 'wx', this.o.strictModes ? 0o600 : m.mode & 0o777);
      this.openFds.add(fd);
    }
    entry.on('data', (c: Buffer) => {
      if (this.failed) return;
      hash.update(c);
      if (fd !== undefined) {
        let off = 0;
        while (off < c.length) off += writeSync(fd, c, off, c.length - off);
      }
    });
    entry.on('end', () => {
      if (this.failed) return;
      const got = hash.digest('hex');
      if (got !== m.sha256) {
        this.fail(new BundleRejection('WAVEOS_E_BUNDLE_HASH', 'hash.sha256', `member ${p} has sha256 ${got}; the manifest says ${m.sha256}`, { path: p, sha256: got, expected: m.sha256 }));
        return;
      }
      this.payloadBytes += m.size;
      if (fd !== undefined) this.written(fd);
    });
  }

  /** A file fully written: fsync it in the background and count it. */
  private written(f: number): void {
    // From here the fsync owns the descriptor: a later failure must not close it under it.
    this.openFds.delete(f);
    const synced = new Promise<void>((res, rej) =>
      fsync(f, (err) => {
        closeSync(f);
        if (err) rej(err);
        else res();
      }),
    );
    synced.catch(() => undefined);
    this.syncs.push(synced);
    this.extracted++;
    try {
      this.o.onExtracted?.(this.extracted);
    } catch (e) {
      this.fail(e);
    }
  }

  /** The archive ended: every listed file was there, and what was written is on disk. */
  private async finish(): Promise<VerifiedBundle> {
    const { checked, mBytes, sBytes, o } = this;
    if (!checked || !mBytes || !sBytes) reject('WAVEOS_E_BUNDLE_FORMAT', 'format.order', `${o.file} has no ${MANIFEST_NAME} and ${SIGNATURE_NAME} at its start`);
    const missing = checked.manifest.files.filter((f) => !this.seen.has(f.path));
    if (missing.length > 0) {
      reject('WAVEOS_E_BUNDLE_PATH', 'file.missing', `${missing.length} file(s) listed in the manifest are missing from the archive, first ${PAYLOAD_PREFIX}${missing[0]?.path}`, { missing: missing.slice(0, 20).map((f) => f.path) });
    }
    await Promise.all(this.syncs);
    if (o.extractTo) {
      // Deepest first, so a read-only folder is made so only after what is below it.
      for (const [d, mode] of this.dirModes.reverse()) chmodSync(d, mode);
      // The same tree again, on the real filesystem this time: what the kernel resolves is what counts.
      checkExtractedTree(o.extractTo, checked.byPath, checked.implied);
      for (const d of this.madeDirs) fsyncDir(d);
    }
    return {
      manifest: checked.manifest,
      manifestBytes: mBytes,
      signatureBytes: sBytes,
      signedBy: checked.signedBy,
      payloadBytes: this.payloadBytes,
      fileCount: checked.manifest.files.filter((f) => f.type === 'file').length,
      entryCount: checked.manifest.files.length,
      archiveBytes: this.archiveBytes,
    };
  }
}

const READ_CHUNK = 1024 * 1024;

/**
 * Feeds the archive to the parser through two read buffers used in turn, so that a bundle of any size
 * allocates no garbage per read: with a fresh buffer per read (a read stream), V8 lets tens of MB of dead
 * buffers pile up before it collects them. Two are enough because the parser copies a partial block it
 * keeps from one write as soon as the next write arrives, and every entry's data is consumed (hashed and
 * written) synchronously before the write returns.
 */
async function readInto(file: string, size: number, parser: Parser, stop: () => boolean): Promise<void> {
  const fh = await open(file, 'r');
  try {
    const bufs = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)];
    for (let i = 0; !stop(); i++) {
      const buf = bufs[i % 2] as Buffer;
      const { bytesRead } = await fh.read(buf, 0, size, null);
      if (bytesRead === 0) break;
      if (!parser.write(buf.subarray(0, bytesRead))) await new Promise<void>((r) => parser.once('drain', () => r()));
    }
  } finally {
    await fh.close();
  }
  if (!stop()) parser.end();
}

/** Reads manifest.json and manifest.sig from the start of a bundle without verifying anything (inspect). */
export function readBundleHead(file: string): Promise<{ manifest: unknown; signatures: unknown; members: number }> {
  return new Promise((resolve, rejectP) => {
    const rs = createReadStream(file, { highWaterMark: 256 * 1024 });
    const parser = newParser();
    const got: Buffer[] = [];
    let members = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      rs.destroy();
      const parse = (b: Buffer | undefined): unknown => {
        try {
          return b ? JSON.parse(b.toString('utf8')) : null;
        } catch {
          return b?.toString('utf8').slice(0, 200) ?? null;
        }
      };
      resolve({ manifest: parse(got[0]), signatures: parse(got[1]), members });
    };
    parser.on('entry', (e: ReadEntry) => {
      members++;
      if (members > 2 || e.size > MAX_MANIFEST_BYTES) {
        e.resume();
        return;
      }
      const chunks: Buffer[] = [];
      e.on('data', (c: Buffer) => chunks.push(c));
      e.on('end', () => {
        got.push(Buffer.concat(chunks));
        if (got.length === 2) finish();
      });
    });
    parser.on('end', finish);
    parser.on('error', (e: Error) => rejectP(new BundleRejection('WAVEOS_E_BUNDLE_FORMAT', 'format.tar', `${file} is not a valid tar archive: ${e.message}`)));
    rs.on('error', (e: NodeJS.ErrnoException) => rejectP(new BundleRejection('WAVEOS_E_BUNDLE_FORMAT', 'format.unreadable', `${file}: ${e.code ?? e.message}`)));
    rs.pipe(parser);
  });
}
