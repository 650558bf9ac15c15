import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { list as listTar, type ReadEntry } from 'tar';
import { type ChainBreakCode, type ChainLink, ChainWalker } from '../journal/index.js';
import { WaveosError, errorMessage } from '../core/index.js';
import { keyIdOf, readTrustedKeys, verifySignature } from './device-key.js';
import { MANIFEST_FILE, type Manifest, SIGNATURE_FILE, manifestSchema } from './manifest.js';

/** The stable name of each check a pack can fail (docs/formats/evidence-pack.md); `chain.*` carries the journal's. */
export type PackProblemCode =
  | 'archive.unreadable'
  | 'entry.type'
  | 'manifest.missing'
  | 'manifest.invalid'
  | 'signature.missing'
  | 'signature.invalid'
  | 'signature.untrusted'
  | 'key_id.mismatch'
  | 'file.missing'
  | 'file.size'
  | 'file.hash'
  | 'file.extra'
  | 'file.duplicate'
  | 'chain.count'
  | 'chain.anchor'
  | 'chain.last'
  | 'head.behind'
  | `chain.${ChainBreakCode | 'line'}`;

export interface VerifyProblem {
  /** The file (or part) that failed: `events.jsonl`, `MANIFEST.sig`, `MANIFEST.json`. */
  file: string;
  code: PackProblemCode;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  file: string;
  problems: VerifyProblem[];
  manifest?: Manifest;
  files_checked: number;
  events_checked: number;
  signature: 'valid' | 'invalid' | 'missing';
  /** Which trusted key (file name in --keys) signed it, when --keys was given. */
  trusted_by?: string;
}

interface Seen {
  size: number;
  sha256: string;
}

/** Checks the event chain line by line as the entry streams past: memory stays flat for any size. */
class EventsFileCheck {
  private readonly walker = new ChainWalker('first');
  private rest = '';
  // A character whose bytes straddle two pieces of the entry is decoded whole, not as two U+FFFD.
  private readonly utf8 = new StringDecoder('utf8');
  private lines = 0;
  problem: string | undefined;
  code: PackProblemCode = 'chain.line';

  feed(chunk: Buffer): void {
    if (this.problem) return;
    const text = this.rest + this.utf8.write(chunk);
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    for (const l of lines) if (l) this.line(l);
  }

  end(): void {
    this.rest += this.utf8.end();
    if (this.rest && !this.problem) this.line(this.rest);
    this.rest = '';
  }

  /** Events that verified, the first one's anchor and the last one's hash. */
  get summary(): { count: number; first: { seq: number; prev_hash: string } | undefined; last: { seq: number; hash: string } | undefined } {
    const r = this.walker.report();
    const a = this.walker.anchor;
    return {
      count: r.events,
      first: a && r.firstSeq !== null ? { seq: a.seq + 1, prev_hash: a.prevHash } : undefined,
      last: r.lastSeq !== null ? { seq: r.lastSeq, hash: r.head } : undefined,
    };
  }

  private line(l: string): void {
    if (this.problem) return;
    this.lines++;
    let e: { seq: number; prev_hash: string; hash: string } & Record<string, unknown>;
    try {
      e = JSON.parse(l) as typeof e;
    } catch {
      this.problem = `line ${this.lines} is not JSON`;
      return;
    }
    if (typeof e.seq !== 'number' || typeof e.prev_hash !== 'string' || typeof e.hash !== 'string') {
      this.problem = `line ${this.lines} is not an event (seq, prev_hash, hash)`;
      return;
    }
    if (!this.walker.push(e as unknown as ChainLink)) {
      const b = this.walker.report().broken;
      this.problem = `seq ${b?.seq}: ${b?.problem}`;
      if (b) this.code = `chain.${b.code}`;
    }
  }
}

/** What one pass over the archive saw: every file's size and sha256, the manifest and signature bytes, the chain. */
interface PackContents {
  seen: Map<string, Seen>;
  chain: EventsFileCheck;
  manifestBytes: Buffer | undefined;
  sigBytes: Buffer | undefined;
}

/** Reads the archive once, hashing every file and checking events.jsonl as it streams past. */
async function readPack(file: string, problems: VerifyProblem[]): Promise<PackContents> {
  const got: PackContents = { seen: new Map(), chain: new EventsFileCheck(), manifestBytes: undefined, sigBytes: undefined };
  const pending: Promise<void>[] = [];
  try {
    await listTar({
      file,
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const path = entry.path.replace(/^\.\//, '');
        if (entry.type !== 'File' && entry.type !== 'OldFile') {
          if (entry.type !== 'Directory') problems.push({ file: path, code: 'entry.type', message: `unexpected ${entry.type} entry in the pack` });
          entry.resume();
          return;
        }
        pending.push(readEntry(entry, path, got, problems));
      },
    });
    await Promise.all(pending);
  } catch (e) {
    problems.push({ file: file, code: 'archive.unreadable', message: `not a readable gzip'd tar: ${errorMessage(e)}` });
  }
  return got;
}

function readEntry(entry: ReadEntry, path: string, got: PackContents, problems: VerifyProblem[]): Promise<void> {
  const h = createHash('sha256');
  let size = 0;
  const keep = path === MANIFEST_FILE || path === SIGNATURE_FILE;
  const chunks: Buffer[] = [];
  const isEvents = path === 'events.jsonl';
  entry.on('data', (c: Buffer) => {
    h.update(c);
    size += c.length;
    if (keep && size <= 16 * 1024 * 1024) chunks.push(c);
    if (isEvents) got.chain.feed(c);
  });
  return new Promise<void>((resolve) =>
    entry.on('end', () => {
      if (got.seen.has(path)) problems.push({ file: path, code: 'file.duplicate', message: 'appears twice in the pack' });
      got.seen.set(path, { size, sha256: h.digest('hex') });
      if (path === MANIFEST_FILE) got.manifestBytes = Buffer.concat(chunks);
      if (path === SIGNATURE_FILE) got.sigBytes = Buffer.concat(chunks);
      if (isEvents) got.chain.end();
      resolve();
    }),
  );
}

function parseManifest(manifestBytes: Buffer, problems: VerifyProblem[]): Manifest | undefined {
  try {
    const parsed = manifestSchema.safeParse(JSON.parse(manifestBytes.toString('utf8')));
    if (parsed.success) return parsed.data;
    const i = parsed.error.issues[0];
    problems.push({ file: MANIFEST_FILE, code: 'manifest.invalid', message: `not a valid manifest: ${i?.path.join('.')}: ${i?.message}` });
  } catch {
    problems.push({ file: MANIFEST_FILE, code: 'manifest.invalid', message: 'not valid JSON' });
  }
  return undefined;
}

/** The signature: over the exact bytes of MANIFEST.json, by the key it names, and one of the trusted keys when given. */
function checkSignature(manifest: Manifest, got: PackContents, report: VerifyReport, opts: { keysDir?: string }, trusted: Map<string, Uint8Array> | undefined): void {
  const { problems } = report;
  const pub = new Uint8Array(Buffer.from(manifest.device.public_key, 'base64'));
  if (!got.sigBytes) problems.push({ file: SIGNATURE_FILE, code: 'signature.missing', message: 'missing from the pack' });
  else {
    const sig = new Uint8Array(Buffer.from(got.sigBytes.toString('utf8').trim(), 'base64'));
    if (sig.length !== 64) {
      report.signature = 'invalid';
      problems.push({ file: SIGNATURE_FILE, code: 'signature.invalid', message: `is not an ed25519 signature (${sig.length} bytes, expected 64)` });
    } else if (!verifySignature(pub, new Uint8Array(got.manifestBytes as Buffer), sig)) {
      report.signature = 'invalid';
      problems.push({
        file: `${MANIFEST_FILE}/${SIGNATURE_FILE}`,
        code: 'signature.invalid',
        message: `the signature does not match: MANIFEST.json or MANIFEST.sig was changed after export (key ${manifest.device.key_id})`,
      });
    } else report.signature = 'valid';
  }
  if (keyIdOf(pub) !== manifest.device.key_id) problems.push({ file: MANIFEST_FILE, code: 'key_id.mismatch', message: 'device.key_id does not belong to device.public_key' });
  if (trusted) {
    const match = [...trusted.entries()].find(([, k]) => Buffer.compare(Buffer.from(k), Buffer.from(pub)) === 0);
    if (match) report.trusted_by = match[0];
    else
      problems.push({
        file: SIGNATURE_FILE,
        code: 'signature.untrusted',
        message: `signed by ${manifest.device.key_id}, which is none of the ${trusted.size} trusted key${trusted.size === 1 ? '' : 's'} in ${opts.keysDir}`,
      });
  }
}

/** Every file: present, same size, same sha256; nothing extra. */
function checkFiles(manifest: Manifest, seen: Map<string, Seen>, report: VerifyReport): void {
  const { problems } = report;
  const listed = new Set<string>();
  for (const f of manifest.files) {
    listed.add(f.path);
    const s = seen.get(f.path);
    if (!s) problems.push({ file: f.path, code: 'file.missing', message: 'listed in MANIFEST.json but missing from the pack' });
    else if (s.size !== f.size) problems.push({ file: f.path, code: 'file.size', message: `size ${s.size} bytes, the manifest says ${f.size}: the file was changed` });
    else if (s.sha256 !== f.sha256) problems.push({ file: f.path, code: 'file.hash', message: 'sha256 does not match the manifest: the file was changed' });
    else report.files_checked++;
  }
  for (const p of seen.keys()) {
    if (p !== MANIFEST_FILE && p !== SIGNATURE_FILE && !listed.has(p)) problems.push({ file: p, code: 'file.extra', message: 'in the pack but not listed in MANIFEST.json: it was added' });
  }
}

/** The chain: intact, and exactly the stretch the manifest anchors. */
function checkChain(manifest: Manifest, got: PackContents, problems: VerifyProblem[]): void {
  const j = manifest.journal;
  if (!got.seen.has('events.jsonl')) return;
  const chain = got.chain.summary;
  if (got.chain.problem) problems.push({ file: 'events.jsonl', code: got.chain.code, message: `the hash chain breaks at ${got.chain.problem}` });
  else if (j.events !== chain.count) problems.push({ file: 'events.jsonl', code: 'chain.count', message: `${chain.count} events, the manifest says ${j.events}` });
  else if (chain.count > 0) {
    if (chain.first?.prev_hash !== j.anchor_prev_hash || chain.first?.seq !== j.first_seq)
      problems.push({ file: 'events.jsonl', code: 'chain.anchor', message: "the first event does not hang on the manifest's anchor (prev_hash / first_seq)" });
    if (chain.last?.hash !== j.last_hash || chain.last?.seq !== j.last_seq) problems.push({ file: 'events.jsonl', code: 'chain.last', message: "the last event is not the manifest's last_hash / last_seq" });
  }
  if (j.head_seq !== undefined && j.head_seq < (j.last_seq ?? 0)) problems.push({ file: MANIFEST_FILE, code: 'head.behind', message: `journal.head_seq ${j.head_seq} is before journal.last_seq ${j.last_seq}: the head mark only moves forward` });
  if (j.head_seq !== undefined && j.head_seq === j.last_seq && j.head_hash !== undefined && j.head_hash !== j.last_hash)
    problems.push({ file: MANIFEST_FILE, code: 'head.behind', message: 'journal.head_hash differs from journal.last_hash at the same seq' });
}

/**
 * Verifies a pack without a daemon: the signature over MANIFEST.json (with the key the manifest names,
 * and against trusted keys when a directory of them is given), every file's size and sha256, that no
 * file was added or removed, and the event chain against the manifest's anchors.
 */
export async function verifyPack(file: string, opts: { keysDir?: string } = {}): Promise<VerifyReport> {
  if (!existsSync(file)) throw new WaveosError('WAVEOS_E_USAGE', `${file}: no such file`);
  const trusted = opts.keysDir === undefined ? undefined : readTrustedKeys(opts.keysDir);
  const problems: VerifyProblem[] = [];
  const got = await readPack(file, problems);
  const report: VerifyReport = { ok: false, file, problems, files_checked: 0, events_checked: got.chain.summary.count, signature: 'missing' };
  if (!got.manifestBytes) {
    problems.push({ file: MANIFEST_FILE, code: 'manifest.missing', message: 'missing from the pack' });
    return report;
  }
  const manifest = parseManifest(got.manifestBytes, problems);
  if (!manifest) return report;
  report.manifest = manifest;
  checkSignature(manifest, got, report, opts, trusted);
  checkFiles(manifest, got.seen, report);
  checkChain(manifest, got, problems);
  report.ok = problems.length === 0;
  return report;
}
