import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { type Clock, WaveosError, isoUtc, writeFileAtomic } from '../core/index.js';

export const TOKEN_ROLES = ['viewer', 'operator', 'admin'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

const tokenName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected 1-64 letters, digits, "_", "." or "-"');

const storeSchema = z.strictObject({
  version: z.literal(1),
  tokens: z.array(
    z.strictObject({
      name: tokenName,
      role: z.enum(TOKEN_ROLES),
      /** sha256 of the token, hex: tokens are 256-bit random, so a fast hash is enough and nothing secret is at rest. */
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      created_at: z.string(),
      revoked_at: z.string().nullable(),
    }),
  ),
});
type StoreFile = z.infer<typeof storeSchema>;

export interface TokenInfo {
  name: string;
  role: TokenRole;
  created_at: string;
  revoked_at: string | null;
}

function digest(token: string): Buffer {
  return Buffer.from(hash('sha256', token, 'hex'), 'hex');
}

/**
 * API tokens, kept hashed in one file (0600, replaced atomically). The daemon re-reads the file when it
 * changes, so a token created or revoked offline takes effect at the next request.
 */
export class TokenStore {
  private cache: { mtimeMs: number; size: number; data: StoreFile } | undefined;

  constructor(
    private readonly file: string,
    private readonly clock: Clock,
  ) {}

  static validName(name: string): boolean {
    return tokenName.safeParse(name).success;
  }

  private read(): StoreFile {
    let st: { mtimeMs: number; size: number };
    try {
      st = statSync(this.file);
    } catch {
      return { version: 1, tokens: [] };
    }
    if (this.cache && this.cache.mtimeMs === st.mtimeMs && this.cache.size === st.size) return this.cache.data;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (e) {
      throw new WaveosError('WAVEOS_E_RUNTIME', `${this.file}: the token store is not valid JSON (${(e as Error).message}); no token is accepted until it is fixed`);
    }
    const r = storeSchema.safeParse(parsed);
    if (!r.success) {
      const i = r.error.issues[0];
      throw new WaveosError('WAVEOS_E_RUNTIME', `${this.file}: the token store is malformed at ${i?.path.join('.') ?? '?'}: ${i?.message ?? ''}`);
    }
    this.cache = { mtimeMs: st.mtimeMs, size: st.size, data: r.data };
    return r.data;
  }

  private write(data: StoreFile): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o750 });
    writeFileAtomic(this.file, `${JSON.stringify(data, null, 2)}\n`, 0o600);
    this.cache = undefined;
  }

  /** Creates a token and returns it; it is shown this once and stored only as its hash. */
  create(name: string, role: TokenRole): string {
    if (!TokenStore.validName(name)) throw new WaveosError('WAVEOS_E_USAGE', `token name "${name}": expected 1-64 letters, digits, "_", "." or "-"`);
    const data = this.read();
    if (data.tokens.some((t) => t.name === name && t.revoked_at === null)) {
      throw new WaveosError('WAVEOS_E_USAGE', `a token named "${name}" already exists; revoke it first`);
    }
    const token = `wos_${randomBytes(32).toString('base64url')}`;
    const tokens = data.tokens.filter((t) => t.name !== name);
    tokens.push({ name, role, sha256: digest(token).toString('hex'), created_at: isoUtc(this.clock.now()), revoked_at: null });
    this.write({ version: 1, tokens });
    return token;
  }

  list(): TokenInfo[] {
    return this.read().tokens.map(({ name, role, created_at, revoked_at }) => ({ name, role, created_at, revoked_at }));
  }

  /** Revokes by name; a revoked token stays listed (with when) so the audit trail keeps its name. */
  revoke(name: string): boolean {
    const data = this.read();
    const t = data.tokens.find((x) => x.name === name && x.revoked_at === null);
    if (!t) return false;
    t.revoked_at = isoUtc(this.clock.now());
    this.write(data);
    return true;
  }

  /**
   * The token's owner, or why not. Every stored hash is compared, in constant time, so the time taken
   * says nothing about which token was close.
   */
  check(token: string): { ok: true; name: string; role: TokenRole } | { ok: false; name: string | null; reason: string } {
    const d = digest(token);
    let found: StoreFile['tokens'][number] | undefined;
    for (const t of this.read().tokens) {
      if (timingSafeEqual(d, Buffer.from(t.sha256, 'hex'))) found = t;
    }
    if (!found) return { ok: false, name: null, reason: 'unknown token' };
    if (found.revoked_at !== null) return { ok: false, name: found.name, reason: `token "${found.name}" was revoked at ${found.revoked_at}` };
    return { ok: true, name: found.name, role: found.role };
  }
}
