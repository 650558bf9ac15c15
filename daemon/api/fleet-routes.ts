import { z } from 'zod';
import { type Route, defineRoute } from './types.js';

export interface FleetRouteDeps {
  snapshot(): object;
  lock(reason: string): void;
  unlock(): void;
}

const lockBody = z.strictObject({ reason: z.string().min(1, 'say why updates must wait').max(200) });

/** `waveos fleet status`, and the update lock an app takes while it must not be updated (docs/fleet-protocol.md). */
export function fleetRoutes(deps: FleetRouteDeps): Route[] {
  return [
    defineRoute({ method: 'GET', path: '/v1/fleet', action: 'fleet.read', role: 'viewer', handle: () => ({ kind: 'json', body: deps.snapshot() }) }),
    defineRoute({
      method: 'POST',
      path: '/v1/fleet/lock',
      action: 'fleet.lock',
      role: 'operator',
      body: lockBody,
      handle: (req) => {
        deps.lock(`${req.body.reason} (operator:${req.principal.name})`);
        return { kind: 'json', body: { ok: true, locked: true } };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/v1/fleet/lock',
      action: 'fleet.unlock',
      role: 'operator',
      handle: () => {
        deps.unlock();
        return { kind: 'json', body: { ok: true, locked: false } };
      },
    }),
  ];
}
