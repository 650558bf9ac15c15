import type { Authorizer, Role } from './types.js';
import { roleAllows } from './types.js';

/**
 * The authorizer until token storage lands: no token is known yet, so any token presented is unknown and
 * denied (in every profile, as the contract says). A request without a token comes from a peer that could
 * open the 0600 socket, i.e. the daemon's own user: the dev profile treats it as admin, prod only as viewer.
 */
export function localSocketAuthorizer(profile: 'dev' | 'prod'): Authorizer {
  const anonymous: Role = profile === 'dev' ? 'admin' : 'viewer';
  return ({ token, need }) => {
    if (token !== undefined) return { allowed: false, principal: null, reason: 'unknown or revoked token' };
    const principal = { name: 'local', role: anonymous };
    if (!roleAllows(anonymous, need)) {
      return { allowed: false, principal, reason: `a request without a token acts as ${anonymous}; this needs ${need}` };
    }
    return { allowed: true, principal };
  };
}
