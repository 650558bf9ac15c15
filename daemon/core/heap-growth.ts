import { setFlagsFromString } from 'node:v8';
import { WaveosError } from './errors.js';

/** The daemon's environment variable for V8's old-generation growing factor (unset in systemd/waveos.service). */
export const HEAP_GROWING_ENV = 'WAVEOS_HEAP_GROWING_PERCENT';

/**
 * V8 lets the old generation grow to a multiple of what the last full GC kept before it runs the next one: an
 * idle daemon with 16 MB live went to 43 MB of heap before its first full GC after start. A growing factor of
 * 1 + N/100 runs it sooner, at a cost in throughput when much is allocated (docs/footprint.md, "V8 flags"). Node refuses `--heap-growing-percent` in
 * NODE_OPTIONS, so the daemon sets it itself, before it loads anything; V8 reads it at every full GC.
 * Returns the percent applied, or undefined when the variable is unset or empty.
 */
export function applyHeapGrowth(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env[HEAP_GROWING_ENV]?.trim();
  if (!raw) return undefined;
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 400) throw new WaveosError('WAVEOS_E_USAGE', `${HEAP_GROWING_ENV}: expected a whole number of percent from 1 to 400, got "${raw}"`);
  setFlagsFromString(`--heap-growing-percent=${n}`);
  return n;
}
