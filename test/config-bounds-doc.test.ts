// docs/config.md's table of bounds is what operators read before they set a duration or a size: every bounded
// key of the config schema the daemon enforces must be in it, with the bounds the daemon enforces.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../daemon/config/index.js';

type Node = { $ref?: string; description?: unknown; properties?: Record<string, Node>; items?: Node; additionalProperties?: unknown; anyOf?: Node[]; oneOf?: Node[]; allOf?: Node[] };

/** Every schema path whose description states "between LEAST and MOST", with those bounds. */
function boundedKeys(schema: Node): Map<string, string> {
  const out = new Map<string, string>();
  const resolve = (ref: string): Node | undefined => ref.replace(/^#\//, '').split('/').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], schema) as Node | undefined;
  const walk = (n: Node | undefined, path: string, refs: Set<string>): void => {
    if (!n || typeof n !== 'object') return;
    if (n.$ref && !refs.has(n.$ref)) walk(resolve(n.$ref), path, new Set([...refs, n.$ref]));
    const m = typeof n.description === 'string' ? /between (\S+?) and (\S+?)(?:[,;.]|\s|$)/.exec(n.description) : null;
    if (m && path) out.set(path, `${m[1]}..${m[2]}`);
    for (const [k, v] of Object.entries(n.properties ?? {})) walk(v, path ? `${path}.${k}` : k, refs);
    if (n.items) walk(n.items, `${path}[]`, refs);
    if (n.additionalProperties && typeof n.additionalProperties === 'object') walk(n.additionalProperties as Node, `${path}.<name>`, refs);
    for (const alt of [...(n.anyOf ?? []), ...(n.oneOf ?? []), ...(n.allOf ?? [])]) walk(alt, path, refs);
  };
  walk(schema, '', new Set());
  return out;
}

/** The doc's rows: `key` (or `a`, `b`) → bounds (or `x, y` for a row of two keys). */
function documented(): Map<string, string> {
  const doc = readFileSync(join(import.meta.dirname, '..', 'docs/config.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const m of doc.matchAll(/^\| (`[^|]+`) \| ([^|]+?) \|$/gm)) {
    const keys = [...(m[1] ?? '').matchAll(/`([^`]+)`/g)].map((k) => k[1] ?? '');
    const bounds = (m[2] ?? '').split(', ');
    keys.forEach((k, i) => rows.set(k, bounds[Math.min(i, bounds.length - 1)] ?? ''));
  }
  return rows;
}

describe('the bounds table in docs/config.md', () => {
  const schema = boundedKeys(configJsonSchema() as Node);
  const doc = documented();

  it('finds the bounded keys in the schema (the walk itself works)', () => {
    expect(schema.size).toBeGreaterThan(80);
    expect(schema.get('telemetry.sample_interval')).toBe('100ms..1h');
  });

  it('lists every bounded key of the config, with the bounds the daemon enforces', () => {
    const wrong = [...schema].filter(([k, b]) => doc.get(k) !== b).map(([k, b]) => `${k}: schema ${b}, doc ${doc.get(k) ?? 'missing'}`);
    expect(wrong).toEqual([]);
  });
});
