import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type FileEntry,
  type Manifest,
  type SigningKey,
  type TarEntry,
  buildBundle,
  computeBundleId,
  generateKeyPair,
  manifestBytes,
  readSigningKey,
  signDetached,
  writeTar,
} from '../../daemon/bundles/index.js';
import { systemClock } from '../../daemon/core/index.js';

export interface TestKey {
  key: SigningKey;
  keyFile: string;
  pubFile: string;
}

export function makeKey(dir: string): TestKey {
  const k = generateKeyPair(dir);
  return { key: readSigningKey(k.keyFile), keyFile: k.keyFile, pubFile: k.pubFile };
}

/** Installs a key as trusted under a root. */
export function trustKey(root: string, k: TestKey): void {
  const dir = join(root, 'etc/waveos/keys');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${k.key.key_id}.pub`), readFileSync(k.pubFile));
}

/**
 * An app payload whose run.sh records its version in $WAVEOS_ROOT/app-<name>.version and stays up —
 * or, with `broken`, exits 1 at once (a service that fails its health gate).
 */
export function appDir(base: string, name: string, version: string, opts: { broken?: boolean; extraBytes?: number } = {}): string {
  const dir = join(base, `${name}-${version}${opts.broken ? '-broken' : ''}`);
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(
    join(dir, 'run.sh'),
    `#!/bin/sh\necho "$WAVEOS_APP_VERSION $$" > "$WAVEOS_ROOT/app-$WAVEOS_APP_NAME.version"\n${opts.broken ? 'exit 1' : 'exec sleep 600'}\n`,
  );
  chmodSync(join(dir, 'run.sh'), 0o755);
  writeFileSync(join(dir, 'etc/app.conf'), `version=${version}\n${'x'.repeat(opts.extraBytes ?? 0)}`);
  return dir;
}

export async function buildApp(k: TestKey, dir: string, out: string, version: string, opts: { name?: string; trialMs?: number; expiresInMs?: number } = {}): Promise<Manifest> {
  return buildBundle({
    dir,
    kind: 'app',
    name: opts.name ?? 'demo',
    version,
    key: k.key,
    out,
    clock: systemClock,
    expiresInMs: opts.expiresInMs,
    app: { run: ['./run.sh'], trial_ms: opts.trialMs ?? 300 },
  });
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A file entry for the manifest and the matching tar member. */
export function member(path: string, text: string, mode = 0o644): { entry: FileEntry; tar: TarEntry } {
  const bytes = Buffer.from(text);
  return { entry: { type: 'file', path, size: bytes.length, mode, sha256: sha(bytes) }, tar: { type: 'File', path: `payload/${path}`, mode, bytes } };
}

/** A folder entry for a schema-2 manifest and the matching tar member. */
export function folder(path: string, mode = 0o755): { entry: FileEntry; tar: TarEntry } {
  return { entry: { type: 'dir', path, mode }, tar: { type: 'Directory', path: `payload/${path}`, mode } };
}

/** A symlink entry and the matching tar member. */
export function link(path: string, target: string): { entry: FileEntry; tar: TarEntry } {
  return { entry: { type: 'symlink', path, target }, tar: { type: 'SymbolicLink', path: `payload/${path}`, linkpath: target } };
}

/** Signs a schema-2 manifest listing exactly `members` and writes them: a bundle whose tree equals its manifest. */
export function craftTree(k: TestKey, out: string, members: { entry: FileEntry; tar: TarEntry }[], over: Partial<Manifest> = {}): Promise<Manifest> {
  return craftBundle(k, out, members.map((m) => m.entry), members.map((m) => m.tar), { schema_version: 2, ...over });
}

/** Signs a manifest listing `files` and writes it with arbitrary (possibly hostile) payload members. */
export async function craftBundle(k: TestKey, out: string, files: FileEntry[], members: TarEntry[], over: Partial<Manifest> = {}): Promise<Manifest> {
  const draft = {
    schema_version: 1 as 1 | 2,
    bundle_id: '',
    kind: 'app' as const,
    name: 'demo',
    version: '9.0.0',
    created_at: new Date().toISOString(),
    key_id: k.key.key_id,
    files,
    ...over,
  };
  draft.bundle_id = computeBundleId(draft);
  const bytes = manifestBytes(draft);
  const sig = Buffer.from(JSON.stringify({ signatures: [{ key_id: k.key.key_id, sig: signDetached(bytes, k.key) }] }));
  await writeTar(out, [{ type: 'File', path: 'manifest.json', bytes }, { type: 'File', path: 'manifest.sig', bytes: sig }, ...members]);
  return draft;
}

/** Changes `from` to `to` (same length) at its first place in the file: a one-byte-or-so tamper. */
export function patchFile(file: string, from: string, to: string): void {
  const buf = readFileSync(file);
  const at = buf.indexOf(from);
  if (at < 0 || from.length !== to.length) throw new Error(`cannot patch ${from} in ${file}`);
  buf.write(to, at);
  writeFileSync(file, buf);
}

/** A digest of a whole tree: names, types, modes, link targets and contents. */
export function hashTree(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      h.update(`missing ${rel}\n`);
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      const st = statSync(p, { throwIfNoEntry: false }) ?? null;
      let lst;
      try {
        lst = readlinkSync(p);
      } catch {
        lst = null;
      }
      if (lst !== null) h.update(`L ${rel}/${n} -> ${lst}\n`);
      else if (st?.isDirectory()) {
        h.update(`D ${rel}/${n} ${st.mode}\n`);
        walk(p, `${rel}/${n}`);
      } else if (st) h.update(`F ${rel}/${n} ${st.mode} ${sha(readFileSync(p))}\n`);
    }
  };
  walk(dir, '');
  return h.digest('hex');
}

/** Is the slot `current` points at complete: every manifest file present with its sha256? Returns its version. */
export function currentSlotIntact(root: string, kind: string, name: string): { bundle_id: string; version: string } | undefined {
  const group = join(root, 'var/lib/waveos/slots', kind, name);
  let id: string;
  try {
    id = readlinkSync(join(group, 'current'));
  } catch {
    return undefined;
  }
  const slot = join(group, id);
  const status = readFileSync(join(slot, 'STATUS'), 'utf8').trim();
  if (status !== 'good') throw new Error(`current slot ${id} is marked ${status}`);
  const m = JSON.parse(readFileSync(join(slot, 'manifest.json'), 'utf8')) as Manifest;
  for (const f of m.files) {
    if (f.type === 'file' && sha(readFileSync(join(slot, 'payload', f.path))) !== f.sha256) throw new Error(`current slot ${id}: ${f.path} does not match its manifest`);
    if (f.type === 'symlink' && readlinkSync(join(slot, 'payload', f.path)) !== f.target) throw new Error(`current slot ${id}: link ${f.path} differs`);
  }
  return { bundle_id: id, version: m.version };
}
