import { fileURLToPath } from 'node:url';

// Replaced by `true` when scripts/bundle.mjs bundles the daemon (esbuild `define`); undefined in dist/.
declare const WAVEOS_BUNDLED: boolean | undefined;

/** True when this code runs from dist/bundle/ (one or a few files), false when it runs from dist/<group>/. */
export const BUNDLED: boolean = typeof WAVEOS_BUNDLED !== 'undefined' && WAVEOS_BUNDLED === true;

/**
 * A file the daemon reads at run time, wherever it runs from: the bundle carries its copy in dist/bundle/
 * (scripts/bundle.mjs puts it there); from dist/<group>/ it is `treePath`, relative to the package root (the
 * directory holding dist/). Both layouts sit two levels below the package root.
 */
export function resourcePath(bundlePath: string, treePath: string): string {
  return fileURLToPath(BUNDLED ? new URL(`./${bundlePath}`, import.meta.url) : new URL(`../../${treePath}`, import.meta.url));
}
