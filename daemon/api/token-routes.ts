import { z } from 'zod';
import { WaveosError } from '../core/index.js';
import type { Journal } from '../journal/index.js';
import { TOKEN_ROLES, type TokenStore } from '../security/index.js';
import { type Route, defineRoute } from './types.js';

const createBody = z.strictObject({ name: z.string().min(1).max(64), role: z.enum(TOKEN_ROLES) });
const revokeQuery = z.strictObject({ name: z.string().min(1).max(64) });

/** Token management (admin). Events name the token and its role, never the token itself. */
export function tokenRoutes(deps: { store: TokenStore; journal: Journal }): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/v1/tokens',
      action: 'token.create',
      role: 'admin',
      body: createBody,
      target: ({ body }) => (body as { name?: string } | undefined)?.name,
      handle: (req) => {
        const token = deps.store.create(req.body.name, req.body.role);
        deps.journal.appendDurable({
          kind: 'token.created',
          severity: 'notice',
          source: `${req.principal.role}:${req.principal.name}`,
          reason: `${req.principal.name} created API token "${req.body.name}" with role ${req.body.role}`,
          data: { name: req.body.name, role: req.body.role },
        });
        return { kind: 'json', status: 201, body: { name: req.body.name, role: req.body.role, token } };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/tokens',
      action: 'token.list',
      role: 'admin',
      handle: () => ({ kind: 'json', body: { tokens: deps.store.list() } }),
    }),
    defineRoute({
      method: 'DELETE',
      path: '/v1/tokens',
      action: 'token.revoke',
      role: 'admin',
      query: revokeQuery,
      target: ({ query }) => query.name,
      handle: (req) => {
        if (!deps.store.revoke(req.query.name)) throw new WaveosError('WAVEOS_E_NOT_FOUND', `no active token named "${req.query.name}"`);
        deps.journal.appendDurable({
          kind: 'token.revoked',
          severity: 'notice',
          source: `${req.principal.role}:${req.principal.name}`,
          reason: `${req.principal.name} revoked API token "${req.query.name}"`,
          data: { name: req.query.name },
        });
        return { kind: 'json', body: { revoked: req.query.name } };
      },
    }),
  ];
}
