import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type Clock, WaveosError, isoUtc } from '../core/index.js';
import { type SigningKey, signDetached } from './keys.js';
import {
  type AppSpec,
  type BundleKind,
  type FileEntry,
  MANIFEST_NAME,
  MANIFEST_SCHEMA_VERSION,
  type Manifest,
  PAYLOAD_PREFIX,
  SIGNATURE_NAME,
  computeBundleId,
  escapingLinkReason,
  manifestBytes,
  manifestSchema,
  resolveInTree,
} from './manifest.js';
import { type TarEntry, writeTar } from './tar-writer.js';

export interface BuildOptions {
  dir: string;
  kind: BundleKind;
  name: string;
  version: string;
  key: SigningKey;
  out: string;
  clock: Clock;
  waveosVersion?: string;
  policyVersion?: string;
  /** Milliseconds from now until the bundle may no longer be installed. */
  expiresInMs?: number;
  app?: AppSpec;
  description?: string;
}

/** Hashes a file by streaming it through native crypto: memory stays flat whatever the size. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file, { highWaterMark: 1024 * 1024 })
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

interface Found {
  entry: FileEntry;
  abs: string;
}

function walk(root: string, rel: string, out: Found[]): void {
  const abs = rel ? join(root, rel) : root;
  for (const name of readdirSync(abs).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const p = join(root, r);
    const st = lstatSync(p);
    if (st.isDirectory()) {
      out.push({ abs: p, entry: { type: 'dir', path: r, mode: st.mode & 0o777 } });
      walk(root, r, out);
    }
    else if (st.isFile()) out.push({ abs: p, entry: { type: 'file', path: r, size: st.size, mode: st.mode & 0o777, sha256: '' } });
    else if (st.isSymbolicLink()) {
      const target = readlinkSync(p);
      const why = escapingLinkReason(r, target);
      if (why) throw new WaveosError('WAVEOS_E_USAGE', `${p}: a symlink in the payload ${why}; bundles may only link inside the payload`);
      out.push({ abs: p, entry: { type: 'symlink', path: r, target } });
    } else throw new WaveosError('WAVEOS_E_USAGE', `${p}: only regular files, directories and symlinks can go into a bundle`);
  }
}

/** Builds and signs a bundle from a directory: manifest.json, manifest.sig, then payload/… in manifest order. */
export async function buildBundle(o: BuildOptions): Promise<Manifest> {
  let st;
  try {
    st = lstatSync(o.dir);
  } catch {
    throw new WaveosError('WAVEOS_E_USAGE', `${o.dir}: no such directory`);
  }
  if (!st.isDirectory()) throw new WaveosError('WAVEOS_E_USAGE', `${o.dir}: not a directory`);
  const found: Found[] = [];
  walk(o.dir, '', found);
  for (const f of found) if (f.entry.type === 'file') f.entry.sha256 = await sha256File(f.abs);
  // Links judged as the board will judge them: through the whole tree, not one by one.
  const tree = new Map(found.map((f) => [f.entry.path, f.entry]));
  for (const f of found) {
    if (f.entry.type !== 'symlink') continue;
    const r = resolveInTree(tree, f.entry.path);
    if (!r.ok) throw new WaveosError('WAVEOS_E_USAGE', `${f.abs}: the symlink does not resolve inside the payload: it ${r.why}`);
  }
  const now = o.clock.now();
  const draft = {
    schema_version: MANIFEST_SCHEMA_VERSION,
    bundle_id: '',
    kind: o.kind,
    name: o.name,
    version: o.version,
    ...(o.waveosVersion ? { waveos_version: o.waveosVersion } : {}),
    ...(o.policyVersion ? { policy_version: o.policyVersion } : {}),
    created_at: isoUtc(now),
    ...(o.expiresInMs !== undefined ? { expires_at: isoUtc(now + o.expiresInMs) } : {}),
    key_id: o.key.key_id,
    ...(o.description ? { description: o.description } : {}),
    ...(o.app ? { app: o.app } : {}),
    files: found.map((f) => f.entry),
  };
  draft.bundle_id = computeBundleId(draft as Manifest);
  const parsed = manifestSchema.safeParse(draft);
  if (!parsed.success) {
    throw new WaveosError(
      'WAVEOS_E_USAGE',
      `the manifest for ${o.dir} would be invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const manifest = parsed.data;
  const bytes = manifestBytes(manifest);
  const sig = Buffer.from(`${JSON.stringify({ signatures: [{ key_id: o.key.key_id, sig: signDetached(bytes, o.key) }] })}\n`);
  await writeTar(o.out, bundleEntries(bytes, sig, found));
  return manifest;
}

function* bundleEntries(manifest: Buffer, sig: Buffer, found: Found[]): Generator<TarEntry> {
  yield { type: 'File', path: MANIFEST_NAME, bytes: manifest };
  yield { type: 'File', path: SIGNATURE_NAME, bytes: sig };
  for (const f of found) {
    const path = `${PAYLOAD_PREFIX}${f.entry.path}`;
    if (f.entry.type === 'file') yield { type: 'File', path, mode: f.entry.mode, file: f.abs, size: f.entry.size };
    else if (f.entry.type === 'dir') yield { type: 'Directory', path, mode: f.entry.mode };
    else yield { type: 'SymbolicLink', path, linkpath: f.entry.target };
  }
}
