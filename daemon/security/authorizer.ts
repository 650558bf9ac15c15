import { errorMessage, isDiskFull } from '../core/index.js';
import type { AuditLog } from './audit.js';
import { TOKEN_ROLES, type TokenRole, type TokenStore } from './tokens.js';

export interface AuthRequest {
  token: string | undefined;
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

/**
 * Token RBAC for the control API. An unknown, revoked or malformed token is denied in every profile. A
 * request without a token is admin in the dev profile (the socket is the developer's own) and denied in
 * prod. Every decision, either way, is appended to the audit log.
 */
export function tokenAuthorizer(deps: { store: TokenStore; audit: AuditLog; profile: 'dev' | 'prod'; onAuditFailure?: (e: unknown) => void }): (req: AuthRequest) => AuthResult {
  return (req) => {
    let result: AuthResult;
    let tokenName: string | null = null;
    if (req.token === undefined) {
      if (deps.profile === 'dev') {
        result = { allowed: true, principal: { name: 'local', role: 'admin' } };
        tokenName = 'local';
      } else {
        result = { allowed: false, principal: null, reason: 'a token is required (WAVEOS_TOKEN or --token-file)' };
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
