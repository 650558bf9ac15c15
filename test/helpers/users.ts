import { chmodSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Lets other users reach `path` (traverse only, o+x) through parents that do not allow it, such as the 0700
 * temp dir a fresh clone may sit in, for a test that runs something as a user it created. Returns the undo.
 */
export function openTraversal(path: string): () => void {
  const opened: { dir: string; mode: number }[] = [];
  for (let dir = path; dir !== dirname(dir); dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      opened.push({ dir, mode });
      chmodSync(dir, mode | 0o001);
    }
  }
  return () => {
    for (const { dir, mode } of opened.reverse()) chmodSync(dir, mode);
  };
}
