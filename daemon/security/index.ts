export { type AuditRecord, AuditLog } from './audit.js';
export { type AuthRequest, type AuthResult, tokenAuthorizer } from './authorizer.js';
export { TOKEN_ROLES, type TokenInfo, type TokenRole, TokenStore } from './tokens.js';
export { Secrets, resolveSecrets } from './secrets.js';
export { AUDIT_FAILURE_EVERY_MS, auditFailureReporter } from './audit-failures.js';
export { REDACTED, Redactor, type RedactorOptions, compilePatterns, daemonRedactor, isSecretName, literalsFromEnv, secretLiterals } from './redaction.js';
