import { DURATION_SOURCE, type FieldBounds, SIZE_SOURCE, fieldBounds } from './duration.js';

type JsonSchema = Record<string, unknown>;

/** The daemon trims a duration or a size before it reads one; `\s` is the set String.prototype.trim removes. */
export const DURATION_PATTERN = `^\\s*${DURATION_SOURCE}\\s*$`;
export const SIZE_PATTERN = `^\\s*${SIZE_SOURCE}\\s*$`;

/**
 * A bounded duration or size as JSON Schema. Plain numbers carry the exact bounds (seconds are rounded to whole
 * ms as the daemon does, hence the half-millisecond margins); strings carry the shape, with the bounds in the
 * description, since a pattern cannot compare magnitudes across units.
 */
export function boundedJsonSchema(b: FieldBounds): JsonSchema {
  const text = { type: 'string', pattern: b.kind === 'duration' ? DURATION_PATTERN : SIZE_PATTERN };
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
