import { z } from 'zod';

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

/**
 * A duration field with the least and the most it may be ("100ms".."1h"): a value outside is refused with a
 * located message, so a timer can neither spin (0ms) nor be clamped by the runtime (999999999h). With
 * `seconds`, a plain number is taken as seconds too.
 */
export interface FieldBounds {
  readonly kind: 'duration' | 'size';
  readonly min: string;
  readonly max: string;
  /** In ms for durations, bytes for sizes. */
  readonly lo: number;
  readonly hi: number;
  /** A duration that also takes a plain number of seconds. */
  readonly seconds: boolean;
}

/** The bounds of every bounded field, keyed by its schema, so the JSON Schema generator can state them. */
export const fieldBounds = new WeakMap<object, FieldBounds>();

export function boundedDuration(min: string, max: string, opts: { seconds?: boolean } = {}) {
  const schema = boundedDurationSchema(min, max, opts);
  fieldBounds.set(schema, { kind: 'duration', min, max, lo: parseDuration(min) as number, hi: parseDuration(max) as number, seconds: opts.seconds ?? false });
  return schema;
}

function boundedDurationSchema(min: string, max: string, opts: { seconds?: boolean }) {
  const lo = parseDuration(min) as number;
  const hi = parseDuration(max) as number;
  const input = opts.seconds ? z.union([z.number(), z.string()]) : z.string();
  return input.describe(`a duration such as 500ms, 5s, 1m, 2h or 30d, between ${min} and ${max}`).transform((v, ctx) => {
    const ms = typeof v === 'number' ? (Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : undefined) : parseDuration(v);
    if (ms === undefined) {
      const message =
        typeof v === 'number'
          ? `expected a non-negative number of seconds or a duration such as 5s, got ${v}`
          : `expected a ${opts.seconds ? 'non-negative ' : ''}duration such as 500ms, 5s, 1m, 2h or 30d, got "${v}"`;
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    if (ms < lo || ms > hi) {
      ctx.addIssue({ code: 'custom', message: `must be between ${formatDurationText(lo)} and ${formatDurationText(hi)}, got ${typeof v === 'number' ? `${v} s` : v}` });
      return z.NEVER;
    }
    return ms;
  });
}

/** A size field (bytes, or with a unit) with the least and the most it may be. */
export function boundedSize(min: string, max: string) {
  const schema = boundedSizeSchema(min, max);
  fieldBounds.set(schema, { kind: 'size', min, max, lo: parseSize(min) as number, hi: parseSize(max) as number, seconds: false });
  return schema;
}

function boundedSizeSchema(min: string, max: string) {
  const lo = parseSize(min) as number;
  const hi = parseSize(max) as number;
  return z
    .union([z.number().int().nonnegative(), z.string()])
    .describe(`a size in bytes, or with a unit: 512KiB, 256MiB, 1GB; between ${min} and ${max}`)
    .transform((v, ctx) => {
      const bytes = typeof v === 'number' ? v : parseSize(v);
      if (bytes === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected a size such as 4096, 512KiB or 256MiB, got "${v}"` });
        return z.NEVER;
      }
      if (bytes < lo || bytes > hi) {
        ctx.addIssue({ code: 'custom', message: `must be between ${min} and ${max}, got ${v}` });
        return z.NEVER;
      }
      return bytes;
    });
}
