// Durations and sizes as text, with nothing but the language: the CLI's client path parses `--since` with
// these and must not load a schema library to do it (docs/footprint.md).
const UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** The number and unit of a duration; the config's JSON Schema is built from the same source. */
export const DURATION_SOURCE = '(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)';
const DURATION_RE = new RegExp(`^${DURATION_SOURCE}$`);

/** Parses "500ms", "5s", "1.5m", "2h", "30d" into milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  const unit = UNITS_MS[m[2] as string] as number;
  return Math.round(Number(m[1]) * unit);
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1_000,
  mb: 1_000_000,
  gb: 1_000_000_000,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** A size's number and optional unit, any letter case, spelled out so a JSON Schema pattern (no flags) can share it. */
export const SIZE_SOURCE = '(\\d+(?:\\.\\d+)?)\\s*([kKmMgG][iI]?[bB]|[bB])?';
const SIZE_RE = new RegExp(`^${SIZE_SOURCE}$`);

/** Parses "512KiB", "256MiB", "1GB", "4096" into bytes; undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.floor(Number(m[1]) * unit);
}

/** A duration in words for reasons: "42 s", "17 min", "3.5 h". */
export function formatMs(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** A bound as the config writes it: "100ms", "1s", "5m", "1h", "30d" (the largest unit that divides it). */
export function formatDurationText(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms === 0 ? '0s' : `${ms}ms`;
}
