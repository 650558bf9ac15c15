import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Paths } from '../core/paths.js';

// On its own so start-up recovery does not load the pack builder (tar, the report page): docs/footprint.md.

export function stagingDirOf(paths: Paths, name: string): string {
  return join(paths.evidenceDir, `.staging-${name}`);
}

/** Start-up is recovery: staging folders and partial packs of an export a crash interrupted are removed. */
export function removeLeftovers(paths: Paths): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(paths.evidenceDir);
  } catch {
    return removed;
  }
  for (const n of names) {
    if (n.startsWith('.staging-') || n.endsWith('.partial')) {
      rmSync(join(paths.evidenceDir, n), { recursive: true, force: true });
      removed.push(n);
    }
  }
  return removed;
}
