import { numeralAtLeast, numeralBelow } from './decimal-range.js';
import { DURATION_SOURCE, type FieldBounds, SIZE_SOURCE, fieldBounds } from './duration.js';

type JsonSchema = Record<string, unknown>;

/** The daemon trims a duration or a size before it reads one; `\s` is the set String.prototype.trim removes. */
export const DURATION_PATTERN = `^\\s*${DURATION_SOURCE}\\s*$`;
export const SIZE_PATTERN = `^\\s*${SIZE_SOURCE}\\s*$`;

const DURATION_UNITS: readonly [string, bigint][] = [['ms', 1n], ['s', 1_000n], ['m', 60_000n], ['h', 3_600_000n], ['d', 86_400_000n]];
const SIZE_UNITS: readonly [string, bigint][] = [['', 1n], ['b', 1n], ['kb', 1_000n], ['mb', 1_000_000n], ['gb', 1_000_000_000n], ['kib', 1024n], ['mib', 1024n ** 2n], ['gib', 1024n ** 3n]];

const anyCase = (word: string): string => [...word].map((c) => `[${c}${c.toUpperCase()}]`).join('');

/**
 * The values in [lo, hi] written in each unit: the numeral N must satisfy lo <= round(N * unit) <= hi for a
 * duration (ms, rounded half up) and lo <= floor(N * unit) <= hi for a size (bytes), which are half-open
 * ranges of N with exact fractional ends.
 */
function rangePattern(b: FieldBounds): string {
  const lo = BigInt(b.lo);
  const hi = BigInt(b.hi);
  const units = b.kind === 'duration' ? DURATION_UNITS : SIZE_UNITS;
  const alternatives = units.map(([unit, f]) => {
    const [least, most] = b.kind === 'duration' ? [{ num: 2n * lo - 1n, den: 2n * f }, { num: 2n * hi + 1n, den: 2n * f }] : [{ num: lo, den: f }, { num: hi + 1n, den: f }];
    const u = unit ? `\\s*${b.kind === 'size' ? anyCase(unit) : unit}` : '';
    return `(?=(?:${numeralAtLeast(least)})${u}\\s*$)(?:${numeralBelow(most)})${u}`;
  });
  return `^\\s*(?:${alternatives.join('|')})\\s*$`;
}

/**
 * A bounded duration or size as JSON Schema: the daemon's pattern for its shape, and one for its bounds in each
 * unit. Plain numbers carry the bounds as numbers (seconds are rounded to whole ms as the daemon does, hence the
 * half-millisecond margins). Only numerals whose product with the unit lands within a float's error of a
 * rounding edge can be judged differently (the daemon multiplies in floating point).
 */
export function boundedJsonSchema(b: FieldBounds): JsonSchema {
  const text = { type: 'string', pattern: b.kind === 'duration' ? DURATION_PATTERN : SIZE_PATTERN, allOf: [{ type: 'string', pattern: rangePattern(b) }] };
  if (b.kind === 'size') {
    return { anyOf: [{ type: 'integer', minimum: b.lo, maximum: b.hi }, text], description: `a size in bytes, or with a unit: 512KiB, 256MiB, 1GB; between ${b.min} and ${b.max}` };
  }
  const description = `a duration such as 500ms, 5s, 1m, 2h or 30d, between ${b.min} and ${b.max}`;
  if (!b.seconds) return { ...text, description };
  const seconds = { type: 'number', minimum: Math.max(0, (b.lo - 0.5) / 1000), exclusiveMaximum: (b.hi + 0.5) / 1000 };
  return { anyOf: [seconds, text], description: `${description} (a plain number is seconds)` };
}

/** Replaces, in place, what zod generated for a node with what the daemon means by it. */
export function replaceSchema(target: JsonSchema, next: JsonSchema): void {
  for (const key of Object.keys(target)) delete target[key];
  Object.assign(target, next);
}

/** A `z.toJSONSchema` override that states the bounds of every boundedDuration and boundedSize. */
export function boundsOverride(ctx: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  const b = fieldBounds.get(ctx.zodSchema as object);
  if (b) replaceSchema(ctx.jsonSchema, boundedJsonSchema(b));
}
