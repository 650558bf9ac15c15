import { parseDuration } from '../core/duration-text.js';
import { WaveosError } from '../core/errors.js';

/** `--since 10m` means ten minutes ago; `--since 2026-11-22T01:00:00Z` is a point in time. */
export function parseSince(text: string, nowMs: number): string {
  const ms = parseDuration(text);
  if (ms !== undefined) return new Date(nowMs - ms).toISOString();
  const t = Date.parse(text);
  if (!Number.isNaN(t) && /^\d{4}-\d{2}-\d{2}/.test(text)) return new Date(t).toISOString();
  throw new WaveosError('WAVEOS_E_USAGE', `--since: expected a duration such as 10m or 2h, or a time such as 2026-11-22T01:00:00Z, got "${text}"`);
}
