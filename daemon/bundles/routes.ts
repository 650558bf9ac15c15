import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { type Route, defineRoute } from '../api/index.js';
import type { BundleAgent } from './agent.js';
import { BUNDLE_KINDS } from './manifest.js';

const installBody = z.strictObject({ path: z.string().min(1).max(4096).refine(isAbsolute, 'expected an absolute path on the board') });
const rollbackBody = z.strictObject({ kind: z.enum(BUNDLE_KINDS).optional(), name: z.string().min(1).max(64).optional() });

/** `waveos bundle install | list | rollback` (CONTRACT.md): installs and rollbacks need the admin role. */
export function bundleRoutes(agent: BundleAgent): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/v1/bundles/install',
      action: 'bundle.install',
      role: 'admin',
      body: installBody,
      handle: async (req) => {
        const rec = await agent.install(req.body.path, { origin: 'api', requestedBy: `operator:${req.principal.name}` });
        return { kind: 'json', body: { install: rec } };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/bundles',
      action: 'bundle.list',
      role: 'viewer',
      handle: () => ({ kind: 'json', body: agent.list() }),
    }),
    defineRoute({
      method: 'POST',
      path: '/v1/bundles/rollback',
      action: 'bundle.rollback',
      role: 'admin',
      body: rollbackBody,
      handle: async (req) => ({ kind: 'json', body: { rollback: await agent.rollbackTo({ ...req.body, requestedBy: `operator:${req.principal.name}` }) } }),
    }),
  ];
}
