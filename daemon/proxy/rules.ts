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
