import { type Authorizer, type Role, roleAllows } from '../../daemon/api/index.js';

/** A caller with a fixed role, decided as the token authorizer would decide for a token of that role (unit layer only). */
export function asRole(role: Role): Authorizer {
  return ({ need }) =>
    roleAllows(role, need) ? { allowed: true, principal: { name: role, role } } : { allowed: false, principal: { name: role, role }, reason: `${role} may not; needs ${need}` };
}
