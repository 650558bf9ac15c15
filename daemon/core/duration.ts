import { z } from 'zod';
import { formatDurationText, parseDuration, parseSize } from './duration-text.js';

export { DURATION_SOURCE, SIZE_SOURCE, formatDurationText, formatMs, parseDuration, parseSize } from './duration-text.js';

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
