import { type Stats, lstatSync, readdirSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { FileEntry } from './manifest.js';
import { BundleRejection } from './rejection.js';

const TYPE_OF = { file: 'a regular file', dir: 'a folder', symlink: 'a symlink' } as const;

function kindOf(st: Stats): FileEntry['type'] | 'other' {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  return 'other';
}

/**
 * The check made on the real filesystem after a payload is extracted: the tree holds exactly the listed
 * entries with their types, and every path in it — each symlink followed by the kernel (realpath), so a
 * chain of links is judged as it resolves, never link by link — ends inside the payload folder at something
 * that exists. `implied` are the parent folders a schema-1 manifest does not list.
 */
export function checkExtractedTree(root: string, entries: ReadonlyMap<string, FileEntry>, implied: ReadonlySet<string> = new Set()): void {
  const top = realpathSync(root);
  const seen = new Set<string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(rel ? join(root, rel) : root).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = join(root, r);
      const st = lstatSync(abs);
      const got = kindOf(st);
      const want = entries.get(r);
      if (!want && !(got === 'dir' && implied.has(r))) {
        throw new BundleRejection('WAVEOS_E_BUNDLE_PATH', 'file.extra', `payload/${r} is in the extracted tree but not in the manifest`, { path: r });
      }
      if (want && want.type !== got) {
        throw new BundleRejection('WAVEOS_E_BUNDLE_PATH', 'entry.type', `payload/${r} was extracted as ${got === 'other' ? 'a special file' : TYPE_OF[got]}; the manifest lists ${TYPE_OF[want.type]}`, { path: r });
      }
      seen.add(r);
      if (got === 'symlink') checkResolves(top, abs, r);
      else if (got === 'dir') walk(r);
    }
  };
  walk('');
  for (const p of entries.keys()) {
    if (!seen.has(p)) throw new BundleRejection('WAVEOS_E_BUNDLE_PATH', 'file.missing', `payload/${p} is listed in the manifest but was not extracted`, { path: p });
  }
}

/** realpath follows every link of the chain on the real filesystem; the end must exist and be below `top`. */
function checkResolves(top: string, abs: string, rel: string): void {
  let real: string;
  try {
    real = realpathSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'ELOOP' ? 'is a loop of links' : code === 'ENOENT' ? 'does not resolve to anything (dangling links are refused)' : `cannot be resolved (${code})`;
    throw new BundleRejection('WAVEOS_E_BUNDLE_PATH', 'path.symlink_escape', `symlink payload/${rel} ${why}`, { path: rel, errno: code });
  }
  if (real !== top && !real.startsWith(top + sep)) {
    throw new BundleRejection('WAVEOS_E_BUNDLE_PATH', 'path.symlink_escape', `symlink payload/${rel} resolves on the filesystem to ${real}, outside the payload`, { path: rel, resolved: real });
  }
}
