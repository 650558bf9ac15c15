import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { list as listTar, type ReadEntry } from 'tar';
import { GENESIS_HASH, verifyChain } from '../journal/index.js';
import { WaveosError, errorMessage } from '../core/index.js';
import { keyIdOf, readTrustedKeys, verifySignature } from './device-key.js';
import { MANIFEST_FILE, type Manifest, SIGNATURE_FILE, manifestSchema } from './manifest.js';

export interface VerifyProblem {
  /** The file (or part) that failed: `events.jsonl`, `MANIFEST.sig`, `MANIFEST.json`. */
  file: string;
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
class ChainCheck {
  private prev: string | undefined;
  private seq = 0;
  private rest = '';
  first: { seq: number; prev_hash: string } | undefined;
  last: { seq: number; hash: string } | undefined;
  count = 0;
  problem: string | undefined;

  feed(chunk: Buffer): void {
    if (this.problem) return;
    const text = this.rest + chunk.toString('utf8');
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    for (const l of lines) if (l) this.line(l);
  }

  end(): void {
    if (this.rest && !this.problem) this.line(this.rest);
    this.rest = '';
  }

  private line(l: string): void {
    if (this.problem) return;
    let e: { seq: number; prev_hash: string; hash: string } & Record<string, unknown>;
    try {
      e = JSON.parse(l) as typeof e;
    } catch {
      this.problem = `line ${this.count + 1} is not JSON`;
      return;
    }
    if (typeof e.seq !== 'number' || typeof e.prev_hash !== 'string' || typeof e.hash !== 'string') {
      this.problem = `line ${this.count + 1} is not an event (seq, prev_hash, hash)`;
      return;
    }
    if (this.first === undefined) {
      this.first = { seq: e.seq, prev_hash: e.prev_hash };
      this.prev = e.prev_hash;
      this.seq = e.seq - 1;
    }
    const r = verifyChain([e as never], { prevHash: this.prev ?? GENESIS_HASH, seq: this.seq });
    if (!r.ok) {
      this.problem = `seq ${r.broken?.seq}: ${r.broken?.problem}`;
      return;
    }
    this.prev = e.hash;
    this.seq = e.seq;
    this.last = { seq: e.seq, hash: e.hash };
    this.count++;
  }
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
  const seen = new Map<string, Seen>();
  const chain = new ChainCheck();
  let manifestBytes: Buffer | undefined;
  let sigBytes: Buffer | undefined;
  const pending: Promise<void>[] = [];
  try {
    await listTar({
      file,
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const path = entry.path.replace(/^\.\//, '');
        if (entry.type !== 'File' && entry.type !== 'OldFile') {
          if (entry.type !== 'Directory') problems.push({ file: path, message: `unexpected ${entry.type} entry in the pack` });
          entry.resume();
          return;
        }
        const h = createHash('sha256');
        let size = 0;
        const keep = path === MANIFEST_FILE || path === SIGNATURE_FILE;
        const chunks: Buffer[] = [];
        const isEvents = path === 'events.jsonl';
        entry.on('data', (c: Buffer) => {
          h.update(c);
          size += c.length;
          if (keep && size <= 16 * 1024 * 1024) chunks.push(c);
          if (isEvents) chain.feed(c);
        });
        pending.push(
          new Promise<void>((resolve) =>
            entry.on('end', () => {
              if (seen.has(path)) problems.push({ file: path, message: 'appears twice in the pack' });
              seen.set(path, { size, sha256: h.digest('hex') });
              if (path === MANIFEST_FILE) manifestBytes = Buffer.concat(chunks);
              if (path === SIGNATURE_FILE) sigBytes = Buffer.concat(chunks);
              if (isEvents) chain.end();
              resolve();
            }),
          ),
        );
      },
    });
    await Promise.all(pending);
  } catch (e) {
    problems.push({ file: file, message: `not a readable gzip'd tar: ${errorMessage(e)}` });
  }

  const report: VerifyReport = { ok: false, file, problems, files_checked: 0, events_checked: chain.count, signature: 'missing' };
  if (!manifestBytes) {
    problems.push({ file: MANIFEST_FILE, message: 'missing from the pack' });
    return report;
  }
  let manifest: Manifest;
  try {
    const parsed = manifestSchema.safeParse(JSON.parse(manifestBytes.toString('utf8')));
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      problems.push({ file: MANIFEST_FILE, message: `not a valid manifest: ${i?.path.join('.')}: ${i?.message}` });
      return report;
    }
    manifest = parsed.data;
  } catch {
    problems.push({ file: MANIFEST_FILE, message: 'not valid JSON' });
    return report;
  }
  report.manifest = manifest;

  // The signature: over the exact bytes of MANIFEST.json.
  const pub = new Uint8Array(Buffer.from(manifest.device.public_key, 'base64'));
  if (!sigBytes) problems.push({ file: SIGNATURE_FILE, message: 'missing from the pack' });
  else {
    const sig = new Uint8Array(Buffer.from(sigBytes.toString('utf8').trim(), 'base64'));
    if (sig.length !== 64) {
      report.signature = 'invalid';
      problems.push({ file: SIGNATURE_FILE, message: `is not an ed25519 signature (${sig.length} bytes, expected 64)` });
    } else if (!verifySignature(pub, new Uint8Array(manifestBytes), sig)) {
      report.signature = 'invalid';
      problems.push({
        file: `${MANIFEST_FILE}/${SIGNATURE_FILE}`,
        message: `the signature does not match: MANIFEST.json or MANIFEST.sig was changed after export (key ${manifest.device.key_id})`,
      });
    } else report.signature = 'valid';
  }
  if (keyIdOf(pub) !== manifest.device.key_id) problems.push({ file: MANIFEST_FILE, message: 'device.key_id does not belong to device.public_key' });
  if (trusted) {
    const match = [...trusted.entries()].find(([, k]) => Buffer.compare(Buffer.from(k), Buffer.from(pub)) === 0);
    if (match) report.trusted_by = match[0];
    else
      problems.push({
        file: SIGNATURE_FILE,
        message: `signed by ${manifest.device.key_id}, which is none of the ${trusted.size} trusted key${trusted.size === 1 ? '' : 's'} in ${opts.keysDir}`,
      });
  }

  // Every file: present, same size, same sha256; nothing extra.
  const listed = new Set<string>();
  for (const f of manifest.files) {
    listed.add(f.path);
    const s = seen.get(f.path);
    if (!s) problems.push({ file: f.path, message: 'listed in MANIFEST.json but missing from the pack' });
    else if (s.size !== f.size) problems.push({ file: f.path, message: `size ${s.size} bytes, the manifest says ${f.size}: the file was changed` });
    else if (s.sha256 !== f.sha256) problems.push({ file: f.path, message: 'sha256 does not match the manifest: the file was changed' });
    else report.files_checked++;
  }
  for (const p of seen.keys()) {
    if (p !== MANIFEST_FILE && p !== SIGNATURE_FILE && !listed.has(p)) problems.push({ file: p, message: 'in the pack but not listed in MANIFEST.json: it was added' });
  }

  // The chain: intact, and exactly the stretch the manifest anchors.
  const j = manifest.journal;
  if (seen.has('events.jsonl')) {
    if (chain.problem) problems.push({ file: 'events.jsonl', message: `the hash chain breaks at ${chain.problem}` });
    else if (j.events !== chain.count) problems.push({ file: 'events.jsonl', message: `${chain.count} events, the manifest says ${j.events}` });
    else if (chain.count > 0) {
      if (chain.first?.prev_hash !== j.anchor_prev_hash || chain.first?.seq !== j.first_seq)
        problems.push({ file: 'events.jsonl', message: "the first event does not hang on the manifest's anchor (prev_hash / first_seq)" });
      if (chain.last?.hash !== j.last_hash || chain.last?.seq !== j.last_seq)
        problems.push({ file: 'events.jsonl', message: "the last event is not the manifest's last_hash / last_seq" });
    }
  }
  report.events_checked = chain.count;
  report.ok = problems.length === 0;
  return report;
}
