import { errorMessage, isDiskFull } from '../core/index.js';
import type { AuditLog } from './audit.js';
import { TOKEN_ROLES, type TokenRole, type TokenStore } from './tokens.js';

/**
 * Which control socket a request came in on. The group sockets' file modes are the authentication: whoever
 * could connect to `admin` is admin, to `viewer` a viewer; on `token` (CONTRACT.md's waveos.sock) only a
 * token counts.
 */
export type SocketKind = 'admin' | 'viewer' | 'token';

export interface AuthRequest {
  token: string | undefined;
  /** Default `token`. */
  via?: SocketKind;
  action: string;
  need: TokenRole;
  target?: string;
}

export interface AuthResult {
  allowed: boolean;
  principal: { name: string; role: TokenRole } | null;
  reason?: string;
  diskFull?: boolean;
}

const allows = (have: TokenRole, need: TokenRole): boolean => TOKEN_ROLES.indexOf(have) >= TOKEN_ROLES.indexOf(need);

/** The role a token-less request gets, by the socket it came in on; null when it is denied. */
function tokenlessRole(via: SocketKind, profile: 'dev' | 'prod'): TokenRole | null {
  if (via === 'admin') return 'admin';
  if (via === 'viewer') return 'viewer';
  // The dev profile's token socket is the developer's own (0600); prod's is open to anyone with a token.
  return profile === 'dev' ? 'admin' : null;
}

/**
 * Token RBAC for the control API. An unknown, revoked or malformed token is denied in every profile and on
 * every socket. A request without a token takes its role from the socket (tokenlessRole): the group
 * sockets' modes decide who can connect at all. Every decision, either way, is appended to the audit log.
 */
export function tokenAuthorizer(deps: { store: TokenStore; audit: AuditLog; profile: 'dev' | 'prod'; onAuditFailure?: (e: unknown) => void }): (req: AuthRequest) => AuthResult {
  return (req) => {
    let result: AuthResult;
    let tokenName: string | null = null;
    const via = req.via ?? 'token';
    if (req.token === undefined) {
      const role = tokenlessRole(via, deps.profile);
      if (role === null) {
        result = {
          allowed: false,
          principal: null,
          reason: 'a token is required on waveos.sock (WAVEOS_TOKEN or --token-file); on this board, members of the admin or viewer group need none (docs/security.md)',
        };
      } else {
        const principal = { name: 'local', role };
        tokenName = 'local';
        result = allows(role, req.need)
          ? { allowed: true, principal }
          : { allowed: false, principal, reason: `the ${via} socket gives role ${role} without a token; ${req.action} needs ${req.need} (use a token, or join the admin group)` };
      }
    } else {
      let check: ReturnType<TokenStore['check']>;
      try {
        check = deps.store.check(req.token);
      } catch (e) {
        check = { ok: false, name: null, reason: errorMessage(e) };
      }
      if (!check.ok) {
        tokenName = check.name;
        result = { allowed: false, principal: null, reason: check.reason };
      } else {
        tokenName = check.name;
        const principal = { name: check.name, role: check.role };
        result = allows(check.role, req.need)
          ? { allowed: true, principal }
          : { allowed: false, principal, reason: `token "${check.name}" has role ${check.role}; ${req.action} needs ${req.need}` };
      }
    }
    try {
      deps.audit.append({
        decision: result.allowed ? 'allow' : 'deny',
        token: tokenName,
        role: result.principal?.role ?? null,
        action: req.action,
        target: req.target ?? null,
        reason: result.reason ?? `role ${result.principal?.role ?? '?'} may ${req.action}`,
        socket: via,
      });
    } catch (e) {
      // Reads go on unaudited (they change nothing); a change that cannot be audited is refused.
      deps.onAuditFailure?.(e);
      if (result.allowed && req.need !== 'viewer') {
        return { allowed: false, principal: result.principal, diskFull: isDiskFull(e), reason: `the audit log cannot be written (${errorMessage(e)}): ${req.action} is refused until it can` };
      }
    }
    return result;
  };
}
