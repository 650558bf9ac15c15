import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { WaveosError } from '../core/index.js';
import type { RouteSettings } from './settings.js';

/** Headers that describe one connection, never forwarded (RFC 9110 §7.6.1), plus ones we set ourselves. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'x-waveos-client',
]);

export interface CompiledRoute extends RouteSettings {
  readonly validate: ((body: unknown) => { ok: true } | { ok: false; issues: { path: string; message: string }[] }) | undefined;
}

export function compileRoutes(routes: readonly RouteSettings[], upstreams: readonly string[]): CompiledRoute[] {
  return routes.map((r, i) => {
    if (!upstreams.includes(r.upstream))
      throw new WaveosError('WAVEOS_E_CONFIG_INVALID', `proxy.routes[${i}] (${r.name}): no upstream named "${r.upstream}"`, {
        problems: [{ path: `proxy.routes.${i}.upstream`, message: `expected one of: ${upstreams.join(', ') || '(none configured)'}` }],
      });
    let validate: CompiledRoute['validate'];
    if (r.json_schema) {
      let schema: z.ZodType;
      try {
        schema = z.fromJSONSchema(declareRequired(r.json_schema) as Parameters<typeof z.fromJSONSchema>[0]);
      } catch (e) {
        throw new WaveosError('WAVEOS_E_CONFIG_INVALID', `proxy.routes[${i}] (${r.name}): json_schema is not a usable JSON Schema`, {
          problems: [{ path: `proxy.routes.${i}.json_schema`, message: (e as Error).message }],
        });
      }
      validate = (body) => {
        const res = schema.safeParse(body);
        return res.success ? { ok: true } : { ok: false, issues: res.error.issues.map((x) => ({ path: x.path.join('.'), message: x.message })) };
      };
    }
    return { ...r, validate };
  });
}

/**
 * JSON Schema's `required` holds for keys whether or not `properties` describes them; the converter only
 * enforces it for described ones, so required keys are described (as anything) before converting.
 */
function declareRequired(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(declareRequired);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'required' || k === 'enum' || k === 'const' ? v : declareRequired(v);
  const required = (schema as { required?: unknown }).required;
  if (Array.isArray(required)) {
    const props = { ...((out.properties as Record<string, unknown> | undefined) ?? {}) };
    for (const key of required) if (typeof key === 'string' && !(key in props)) props[key] = {};
    out.properties = props;
  }
  return out;
}

/** Encoded separators and dots, and an encoded `%` (double encoding): refused, never decoded into a path. */
const ENCODED_SEPARATOR = /%(2f|5c|2e|25|00)/i;

/** A path segment re-encoded for the upstream: what encodeURIComponent escapes, less the sub-delimiters paths allow. */
function encodeSegment(seg: string): string {
  return encodeURIComponent(seg).replace(/%(21|24|26|27|28|29|2A|2B|2C|3B|3D|3A|40)/g, (m) => decodeURIComponent(m));
}

/**
 * The request path as routes are matched and the upstream sees it: decoded once, dot segments resolved.
 * Encoded separators (`%2F`, `%5C`), encoded dots (`%2E`), an encoded `%` (double encoding), a NUL, a
 * backslash, and a `..` that climbs above the root are refused, so no spelling of a path can match one route
 * and reach the upstream as another.
 */
export function normalisePath(raw: string): { ok: true; path: string } | { ok: false; why: string } {
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  if (!path.startsWith('/')) return { ok: false, why: 'the path must begin with /' };
  if (ENCODED_SEPARATOR.test(path)) return { ok: false, why: 'the path holds an encoded separator, dot or percent sign' };
  if (path.includes('\\')) return { ok: false, why: 'the path holds a backslash' };
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return { ok: false, why: 'the path is not valid percent-encoding' };
  }
  const out: string[] = [];
  const segs = decoded.split('/').slice(1);
  for (const [i, seg] of segs.entries()) {
    if (seg === '.') {
      if (i === segs.length - 1) out.push('');
      continue;
    }
    if (seg === '..') {
      if (out.length === 0) return { ok: false, why: 'the path climbs above the root' };
      out.pop();
      if (i === segs.length - 1) out.push('');
      continue;
    }
    out.push(seg);
  }
  return { ok: true, path: `/${out.map(encodeSegment).join('/')}` };
}

/** The route for a path: the longest matching prefix (on a segment boundary). */
export function matchRoute(routes: readonly CompiledRoute[], path: string): CompiledRoute | undefined {
  let best: CompiledRoute | undefined;
  for (const r of routes) {
    const p = r.path.endsWith('/') ? r.path.slice(0, -1) : r.path;
    const hit = path === p || path.startsWith(`${p}/`) || p === '';
    if (hit && (!best || r.path.length > best.path.length)) best = r;
  }
  return best;
}

/** Forwarded headers: hop-by-hop ones and the route's stripped ones removed, the route's set ones set. */
export function forwardHeaders(route: RouteSettings, incoming: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  const connectionListed = new Set(
    String(incoming.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [k, v] of Object.entries(incoming)) {
    const name = k.toLowerCase();
    if (v === undefined || HOP_BY_HOP.has(name) || connectionListed.has(name) || route.strip_headers.includes(name)) continue;
    out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  for (const [k, v] of Object.entries(route.set_headers)) out[k] = v;
  return out;
}

/** Response headers passed back to the client: hop-by-hop ones dropped. */
export function responseHeaders(incoming: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(incoming)) {
    if (v === undefined || (HOP_BY_HOP.has(k) && k !== 'content-length')) continue;
    out[k] = v;
  }
  return out;
}
