import { z } from 'zod';

export const MANIFEST_FILE = 'MANIFEST.json';
export const SIGNATURE_FILE = 'MANIFEST.sig';
export const MANIFEST_FORMAT = 'waveos-evidence';
export const MANIFEST_SCHEMA_VERSION = 1;

export const TRIGGERS = ['manual', 'schedule', 'incident'] as const;
export type Trigger = (typeof TRIGGERS)[number];

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 hex digits');

/** MANIFEST.json: what a verifier needs, read from an untrusted file, so parsed and never cast. */
export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  schema_version: z.literal(MANIFEST_SCHEMA_VERSION),
  name: z.string(),
  created_at: z.string(),
  reason: z.string(),
  trigger: z.enum(TRIGGERS),
  requested_by: z.string(),
  incident: z.record(z.string(), z.unknown()).nullable(),
  window: z.object({ since: z.string(), until: z.string() }),
  device: z.object({
    device_id: z.string(),
    app_id: z.string(),
    environment: z.string(),
    public_key: z.string(),
    key_id: z.string(),
  }),
  waveos: z.record(z.string(), z.unknown()),
  run_id: z.string(),
  runs: z.array(z.string()),
  journal: z.object({
    events: z.number().int().nonnegative(),
    first_seq: z.number().int().positive().nullable(),
    last_seq: z.number().int().positive().nullable(),
    /** prev_hash of the first event: where the window's stretch of the chain hangs on the journal. */
    anchor_prev_hash: sha256.nullable(),
    /** hash of the last event: the head a later pack or the device's journal must continue from. */
    last_hash: sha256.nullable(),
    chain_verified: z.boolean(),
    /**
     * The journal's head mark when the pack was made: the seq and hash of its last committed event, at or
     * past last_seq. A journal seen later must still hold that event with that hash, or its tail was cut.
     * Absent in packs from before the head mark.
     */
    head_seq: z.number().int().nonnegative().optional(),
    head_hash: sha256.optional(),
  }),
  metrics: z.object({ samples: z.number().int().nonnegative(), series: z.number().int().nonnegative() }),
  logs: z.array(z.object({ source: z.string(), files: z.array(z.string()) })),
  files: z.array(z.object({ path: z.string(), size: z.number().int().nonnegative(), sha256 })),
  notes: z.array(z.string()),
});
export type Manifest = z.infer<typeof manifestSchema>;

export interface FileEntry {
  path: string;
  size: number;
  sha256: string;
}

/** `20261122T014500Z`: sorts, and is safe in a file name. */
export function fileStamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** The reason as it appears in the file name: lower-case words joined by `-`, at most 40 characters. */
export function reasonSlug(reason: string): string {
  const s = reason
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return s || 'export';
}

/** CONTRACT.md: `evidence-<device_id>-<UTC timestamp>-<reason>.tar.gz`. */
export function packName(deviceId: string, ms: number, reason: string): string {
  return `evidence-${deviceId}-${fileStamp(ms)}-${reasonSlug(reason)}.tar.gz`;
}

export const PACK_NAME_RE = /^evidence-[A-Za-z0-9][A-Za-z0-9_.-]*\.tar\.gz$/;
