import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type Paths, fsyncDir, writeFileAtomic } from '../core/index.js';
import { type Manifest, manifestSchema } from './manifest.js';

/**
 * Slots: `slots/<kind>/<name>/<bundle_id>/` holds one installed bundle (manifest.json, manifest.sig,
 * payload/, STATUS); beside them the links `current`, `last_known_good` and `previous_good` name slots.
 */
export const LINK_CURRENT = 'current';
export const LINK_LKG = 'last_known_good';
export const LINK_PREVIOUS = 'previous_good';
const STATUS_FILE = 'STATUS';

export function groupDir(paths: Paths, kind: string, name: string): string {
  return join(paths.slotsDir, kind, name);
}

export function readLink(dir: string, link: string): string | undefined {
  try {
    return readlinkSync(join(dir, link));
  } catch {
    return undefined;
  }
}

/** RAUC's rule: a slot is marked bad before anything is written into it, good only once all of it is durable. */
export function markSlot(slotDir: string, status: 'bad' | 'good'): void {
  writeFileAtomic(join(slotDir, STATUS_FILE), `${status}\n`);
}

export function slotStatus(slotDir: string): 'bad' | 'good' | undefined {
  try {
    const s = readFileSync(join(slotDir, STATUS_FILE), 'utf8').trim();
    return s === 'good' || s === 'bad' ? s : undefined;
  } catch {
    return undefined;
  }
}

export function readSlotManifest(slotDir: string): Manifest | undefined {
  try {
    const r = manifestSchema.safeParse(JSON.parse(readFileSync(join(slotDir, 'manifest.json'), 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

export function removeSlot(slotDir: string): void {
  rmSync(slotDir, { recursive: true, force: true });
}

export interface SlotGroup {
  kind: string;
  name: string;
  dir: string;
  current?: string;
  lastKnownGood?: string;
  previousGood?: string;
  /** Every slot folder present, with its status. */
  slots: { bundle_id: string; status: 'bad' | 'good' | undefined; version?: string }[];
}

export function readGroup(paths: Paths, kind: string, name: string): SlotGroup {
  const dir = groupDir(paths, kind, name);
  const slots: SlotGroup['slots'] = [];
  if (existsSync(dir)) {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory() || !/^[0-9a-f]{64}$/.test(e.name)) continue;
      const sd = join(dir, e.name);
      slots.push({ bundle_id: e.name, status: slotStatus(sd), version: readSlotManifest(sd)?.version });
    }
  }
  return { kind, name, dir, current: readLink(dir, LINK_CURRENT), lastKnownGood: readLink(dir, LINK_LKG), previousGood: readLink(dir, LINK_PREVIOUS), slots };
}

export function listGroups(paths: Paths): SlotGroup[] {
  const out: SlotGroup[] = [];
  if (!existsSync(paths.slotsDir)) return out;
  for (const k of readdirSync(paths.slotsDir, { withFileTypes: true })) {
    if (!k.isDirectory()) continue;
    for (const n of readdirSync(join(paths.slotsDir, k.name), { withFileTypes: true })) {
      if (n.isDirectory() && n.name !== 'node_modules') out.push(readGroup(paths, k.name, n.name));
    }
  }
  return out.sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
}

/** Removes every slot but the ones named, and stray temporary links from a crash. */
export function pruneGroup(dir: string, keep: ReadonlySet<string>): string[] {
  const removed: string[] = [];
  if (!existsSync(dir)) return removed;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (/^[0-9a-f]{64}$/.test(e) && !keep.has(e)) {
      removeSlot(p);
      removed.push(e);
    } else if (e.includes('.tmp-') && lstatSync(p).isSymbolicLink()) unlinkSync(p);
  }
  if (removed.length) fsyncDir(dir);
  return removed;
}

export function ensureGroup(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
}

export interface BundleVersions {
  waveos_version: string | null;
  policy_version: string | null;
  /** The current bundle id by kind (with several bundles of a kind, the last by name). */
  bundle_ids: Record<string, string>;
  by_name: Record<string, { bundle_id: string; version: string | undefined }>;
}

/** What the slots' `current` links say is installed, read from the disk alone. */
export function installedVersions(paths: Paths): BundleVersions {
  const out: BundleVersions = { waveos_version: null, policy_version: null, bundle_ids: {}, by_name: {} };
  for (const g of listGroups(paths)) {
    if (!g.current) continue;
    const m = readSlotManifest(join(g.dir, g.current));
    out.bundle_ids[g.kind] = g.current;
    out.by_name[`${g.kind}/${g.name}`] = { bundle_id: g.current, version: m?.version };
    if (g.kind === 'waveos' && m) out.waveos_version = m.waveos_version ?? m.version;
    if (g.kind === 'policy' && m) out.policy_version = m.policy_version ?? m.version;
  }
  return out;
}
