import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { z } from 'zod';
import { canonicalJson } from '../core/index.js';
import { isSemver } from './semver.js';

/**
 * 2: every payload member, directories included, is listed with its type and mode (the tree equals the
 * manifest). 1 (still accepted): files and symlinks only; the archive may carry no directory members.
 */
export const MANIFEST_SCHEMA_VERSION = 2;
export const BUNDLE_KINDS = ['app', 'config', 'certs', 'policy', 'waveos'] as const;
export type BundleKind = (typeof BUNDLE_KINDS)[number];

/** The archive's fixed member names; everything else lives under PAYLOAD_PREFIX. */
export const MANIFEST_NAME = 'manifest.json';
export const SIGNATURE_NAME = 'manifest.sig';
export const PAYLOAD_PREFIX = 'payload/';
/** The manifest and signature are read into memory: they must stay small. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_SIGNATURE_BYTES = 64 * 1024;

/** Why a path is unsafe inside the payload, or undefined when it is confined to it. */
export function unsafePathReason(p: string): string | undefined {
  if (p.length === 0) return 'is empty';
  if (p.startsWith('/')) return 'is absolute';
  if (p.includes('\0')) return 'contains a NUL byte';
  if (p.includes('\\')) return 'contains a backslash';
  const parts = p.split('/');
  if (parts.includes('..')) return 'contains a ".." component';
  if (parts.some((s) => s === '' || s === '.')) return 'is not normalized (empty or "." component)';
  return undefined;
}

/** Why a symlink at `path` pointing at `target` would leave the payload on its own, or undefined (a first, cheap check). */
export function escapingLinkReason(path: string, target: string): string | undefined {
  if (target.length === 0) return 'has an empty target';
  if (target.startsWith('/')) return `points at the absolute path ${target}`;
  if (target.includes('\0')) return 'has a NUL byte in its target';
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  if (resolved === '..' || resolved.startsWith('../')) return `points outside the payload (${target} resolves to ${resolved})`;
  return undefined;
}

/** Linux's limit on links followed in one lookup (MAXSYMLINKS). */
export const MAX_LINK_HOPS = 40;

/**
 * Resolves `path` inside the tree the manifest declares, component by component, following links as the
 * kernel would (a link's target is taken relative to the link's folder, `..` after a link climbs from where
 * the link led). Returns the entry it ends at, or why it does not end inside the payload: a `..` above the
 * payload, an absolute target, a loop (more than MAX_LINK_HOPS links), a missing component, or a component
 * that is not a folder.
 */
export function resolveInTree(entries: ReadonlyMap<string, FileEntry>, path: string): { ok: true; entry: FileEntry | undefined; path: string } | { ok: false; why: string } {
  let hops = 0;
  const at: string[] = [];
  const todo = path.split('/');
  while (todo.length > 0) {
    const c = todo.shift() as string;
    if (c === '') continue;
    // As the kernel: whatever comes after a component ("..", "." included) needs it to be an existing folder.
    if (at.length > 0) {
      const here = entries.get(at.join('/'));
      if (!here) return { ok: false, why: `goes through ${at.join('/')}, which is not in the bundle` };
      if (here.type !== 'dir') return { ok: false, why: `goes through ${at.join('/')}, which is not a folder` };
    }
    if (c === '.') continue;
    if (c === '..') {
      if (at.length === 0) return { ok: false, why: 'climbs above the payload with ".."' };
      at.pop();
      continue;
    }
    at.push(c);
    const e = entries.get(at.join('/'));
    if (e?.type !== 'symlink') continue;
    if (++hops > MAX_LINK_HOPS) return { ok: false, why: `follows more than ${MAX_LINK_HOPS} links (a loop)` };
    if (e.target.startsWith('/')) return { ok: false, why: `reaches ${at.join('/')}, which points at the absolute path ${e.target}` };
    at.pop();
    todo.unshift(...e.target.split('/'));
  }
  const p = at.join('/');
  if (p === '') return { ok: true, entry: undefined, path: p };
  const entry = entries.get(p);
  if (!entry) return { ok: false, why: `ends at ${p}, which is not in the bundle` };
  return { ok: true, entry, path: p };
}

const relPath = z
  .string()
  .max(4096)
  .superRefine((p, ctx) => {
    const why = unsafePathReason(p);
    if (why) ctx.addIssue({ code: 'custom', message: `path "${p}" ${why}` });
  });
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (sha256)');
export const keyIdSchema = z.string().regex(/^[0-9a-f]{16}$/, 'expected a key id of 16 lowercase hex digits');
const semver = z.string().max(128).refine(isSemver, 'expected a semantic version such as 1.4.2');
const identifier = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected 1-64 letters, digits, "_", "." or "-"');
const argv = z.array(z.string().min(1).max(4096)).min(1).max(64);

export const fileEntrySchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('file'),
    path: relPath,
    size: z.number().int().nonnegative(),
    mode: z.number().int().min(0).max(0o7777),
    sha256: sha256Hex,
  }),
  z.strictObject({ type: z.literal('symlink'), path: relPath, target: z.string().min(1).max(4096) }),
  z.strictObject({ type: z.literal('dir'), path: relPath, mode: z.number().int().min(0).max(0o7777) }),
]);
export type FileEntry = z.infer<typeof fileEntrySchema>;

/** What an app bundle declares for its trial: the command to run and how to tell that it is healthy. */
export const appSpecSchema = z.strictObject({
  /** argv, relative to the payload for the program; run with the payload as working directory. */
  run: argv.optional(),
  /** argv run once after the stay-up time; exit 0 means healthy. */
  health: argv.optional(),
  /** How long the service must stay up before the bundle is committed (milliseconds). */
  trial_ms: z.number().int().min(0).max(3_600_000).optional(),
});
export type AppSpec = z.infer<typeof appSpecSchema>;

export const manifestSchema = z.strictObject({
  schema_version: z.union([z.literal(1), z.literal(MANIFEST_SCHEMA_VERSION)]),
  bundle_id: sha256Hex,
  kind: z.enum(BUNDLE_KINDS),
  name: identifier,
  version: semver,
  waveos_version: semver.optional(),
  policy_version: z.string().min(1).max(128).optional(),
  created_at: z.iso.datetime({ offset: true }),
  expires_at: z.iso.datetime({ offset: true }).optional(),
  key_id: keyIdSchema,
  description: z.string().max(2000).optional(),
  app: appSpecSchema.optional(),
  files: z.array(fileEntrySchema).max(1_000_000),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const signatureFileSchema = z.strictObject({
  signatures: z.array(z.strictObject({ key_id: keyIdSchema, sig: z.base64() })).min(1).max(16),
});
export type SignatureFile = z.infer<typeof signatureFileSchema>;

/** The bundle id: sha256 of the canonical manifest without the id itself, so it names the content. */
export function computeBundleId(m: Omit<Manifest, 'bundle_id'> & { bundle_id?: string }): string {
  const { bundle_id: _omit, ...rest } = m;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** The exact bytes that are signed and shipped as manifest.json. */
export function manifestBytes(m: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
}
