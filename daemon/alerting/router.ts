import type { AlertRoute } from '../config/index.js';

/** What a route's `match` looks at. */
export interface RouteInput {
  severity: string;
  kind: string;
  environment: string;
  alertname: string;
}

function kindMatches(patterns: readonly string[], kind: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? kind.startsWith(p.slice(0, -1)) : p === kind));
}

function matches(r: AlertRoute, a: RouteInput): boolean {
  const m = r.match;
  if (m.severity && !m.severity.includes(a.severity as never)) return false;
  if (m.kind && !kindMatches(m.kind, a.kind)) return false;
  if (m.environment && !m.environment.includes(a.environment)) return false;
  if (m.alertname && !m.alertname.includes(a.alertname)) return false;
  return true;
}

/** A route an alert ends at, with its path in the tree (the group key's prefix). */
export interface RouteHit {
  route: AlertRoute;
  path: string;
}

/**
 * Alertmanager's walk: the root always matches; of its children, the first that matches takes the alert
 * (deeper first), unless it says `continue`, when the next siblings are tried too. No child matched: the
 * node itself is the route.
 */
export function routesFor(root: AlertRoute, a: RouteInput): RouteHit[] {
  const walk = (node: AlertRoute, path: string): RouteHit[] => {
    const hits: RouteHit[] = [];
    for (const [i, child] of node.routes.entries()) {
      if (!matches(child, a)) continue;
      hits.push(...walk(child, `${path}/${i}`));
      if (!child.continue) break;
    }
    return hits.length ? hits : [{ route: node, path }];
  };
  return walk(root, '');
}
