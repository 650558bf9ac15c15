export { AUDIT_LIMITS, type AuditRecord, AuditLog } from './audit.js';
export { type AuthRequest, type AuthResult, type SocketKind, tokenAuthorizer } from './authorizer.js';
export { AuthThrottle, FAILURES_PER_CONNECTION, THROTTLE_SUMMARY_MS } from './auth-throttle.js';
export { TOKEN_ROLES, type TokenInfo, type TokenRole, TokenStore } from './tokens.js';
export { Secrets, resolveSecrets } from './secrets.js';
export { AUDIT_FAILURE_EVERY_MS, auditFailureReporter } from './audit-failures.js';
export { REDACTED, Redactor, type RedactorOptions, compilePatterns, daemonRedactor, isSecretName, literalsFromEnv, secretLiterals } from './redaction.js';
