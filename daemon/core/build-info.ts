import { readFileSync } from 'node:fs';
import { resourcePath } from './resources.js';

export interface BuildStamp {
  version: string;
  git_commit: string | null;
  git_dirty: boolean | null;
  built_at: string | null;
}

/** The stamp `npm run build` writes beside the compiled code (scripts/build-info.mjs). */
export function readBuildStamp(): BuildStamp {
  let version = '0.0.0';
  try {
    version = (JSON.parse(readFileSync(resourcePath('package.json', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // running from an unusual layout; the stamp below may still say
  }
  try {
    const s = JSON.parse(readFileSync(resourcePath('build-info.json', 'dist/build-info.json'), 'utf8')) as Partial<BuildStamp>;
    return { version: s.version ?? version, git_commit: s.git_commit ?? null, git_dirty: s.git_dirty ?? null, built_at: s.built_at ?? null };
  } catch {
    return { version, git_commit: null, git_dirty: null, built_at: null };
  }
}
