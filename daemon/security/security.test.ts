import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../core/index.js';
import { AuditLog, TokenStore, resolveSecrets, tokenAuthorizer } from './index.js';

let dir: string;
const clock = new FakeClock();
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'security-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('TokenStore', () => {
  it('stores only hashes, 0600, and checks tokens by role', () => {
    const file = join(dir, 'tokens.json');
    const store = new TokenStore(file, clock);
    const t = store.create('ops', 'operator');
    expect(t).toMatch(/^wos_[A-Za-z0-9_-]{43}$/);
    expect(readFileSync(file, 'utf8')).not.toContain(t);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(store.check(t)).toEqual({ ok: true, name: 'ops', role: 'operator' });
    expect(store.check(`${t}x`)).toMatchObject({ ok: false, reason: 'unknown token' });
    expect(() => store.create('ops', 'admin')).toThrow(/already exists/);
    expect(() => store.create('bad name', 'admin')).toThrow(/expected 1-64/);
  });

  it('revokes by name, keeps it listed, and a second store instance sees changes', () => {
    const file = join(dir, 'tokens.json');
    const a = new TokenStore(file, clock);
    const b = new TokenStore(file, clock);
    const t = a.create('viewer1', 'viewer');
    expect(b.check(t).ok).toBe(true);
    expect(a.revoke('viewer1')).toBe(true);
    expect(a.revoke('viewer1')).toBe(false);
    expect(b.check(t)).toMatchObject({ ok: false, name: 'viewer1', reason: expect.stringMatching(/revoked/) });
    expect(b.list()).toEqual([expect.objectContaining({ name: 'viewer1', role: 'viewer', revoked_at: expect.any(String) })]);
  });

  it('a malformed store file denies every token with a located message', () => {
    const file = join(dir, 'tokens.json');
    writeFileSync(file, '{"version":1,"tokens":[{"name":"x"}]}');
    expect(() => new TokenStore(file, clock).check('wos_x')).toThrow(/malformed at tokens\.0/);
  });
});

describe('tokenAuthorizer', () => {
  function setup(profile: 'dev' | 'prod') {
    const store = new TokenStore(join(dir, 'tokens.json'), clock);
    const auditFile = join(dir, 'audit.jsonl');
    const authorize = tokenAuthorizer({ store, audit: new AuditLog(auditFile, clock), profile });
    const audit = () =>
      readFileSync(auditFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { store, authorize, audit };
  }

  it('allows by role order and audits every decision without the token', () => {
    const { store, authorize, audit } = setup('prod');
    const op = store.create('op', 'operator');
    expect(authorize({ token: op, action: 'service.restart', need: 'operator', target: 'app' }).allowed).toBe(true);
    expect(authorize({ token: op, action: 'status.read', need: 'viewer' }).allowed).toBe(true);
    const denied = authorize({ token: op, action: 'bundle.install', need: 'admin' });
    expect(denied).toMatchObject({ allowed: false, principal: { name: 'op', role: 'operator' } });
    const lines = audit();
    expect(lines.map((l) => l.decision)).toEqual(['allow', 'allow', 'deny']);
    expect(lines[0]).toMatchObject({ token: 'op', role: 'operator', action: 'service.restart', target: 'app' });
    expect(JSON.stringify(lines)).not.toContain(op);
  });

  it('when the audit log cannot be written: reads go on, changes are refused as disk-full, the failure is reported', () => {
    const store = new TokenStore(join(dir, 'tokens.json'), clock);
    const failures: unknown[] = [];
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const audit = { append: () => { throw full; } } as unknown as AuditLog;
    const authorize = tokenAuthorizer({ store, audit, profile: 'prod', onAuditFailure: (e) => failures.push(e) });
    const op = store.create('op', 'operator');
    expect(authorize({ token: op, action: 'status.read', need: 'viewer' })).toMatchObject({ allowed: true });
    const change = authorize({ token: op, action: 'mode.set', need: 'operator' });
    expect(change).toMatchObject({ allowed: false, diskFull: true, reason: expect.stringMatching(/audit log cannot be written .*mode\.set is refused/) });
    // A denial stays a denial (and is not turned into a disk-full answer).
    const denied = authorize({ token: op, action: 'bundle.install', need: 'admin' });
    expect(denied.allowed).toBe(false);
    expect(denied.diskFull).toBeUndefined();
    expect(failures).toHaveLength(3);
  });

  it('denies token-less requests in prod and treats them as admin in dev', () => {
    expect(setup('prod').authorize({ token: undefined, action: 'status.read', need: 'viewer' }).allowed).toBe(false);
    expect(setup('dev').authorize({ token: undefined, action: 'token.create', need: 'admin' }).allowed).toBe(true);
  });

  it('a token-less request takes its role from the group socket it came in on, in both profiles', () => {
    for (const profile of ['dev', 'prod'] as const) {
      const { authorize } = setup(profile);
      expect(authorize({ token: undefined, via: 'admin', action: 'token.create', need: 'admin' }).allowed).toBe(true);
      expect(authorize({ token: undefined, via: 'viewer', action: 'status.read', need: 'viewer' }).allowed).toBe(true);
      const restart = authorize({ token: undefined, via: 'viewer', action: 'service.restart', need: 'operator' });
      expect(restart.allowed).toBe(false);
      expect(restart.principal?.role).toBe('viewer');
      expect(restart.reason).toMatch(/viewer socket .* needs operator/);
      // A token is judged alone, whatever the socket: a bad one is never rescued by the socket's role.
      expect(authorize({ token: 'wos_unknown', via: 'admin', action: 'status.read', need: 'viewer' }).allowed).toBe(false);
    }
  });

  it('denies unknown, revoked and malformed tokens in every profile', () => {
    for (const profile of ['dev', 'prod'] as const) {
      const { store, authorize } = setup(profile);
      const t = store.create(`gone-${profile}`, 'admin');
      store.revoke(`gone-${profile}`);
      for (const token of [t, 'wos_unknown', '', 'Basic abc', '\u0000']) {
        expect(authorize({ token, action: 'status.read', need: 'viewer' }).allowed).toBe(false);
      }
    }
  });
});

describe('resolveSecrets', () => {
  it('reads env, file and systemd credentials, and never prints a value', () => {
    writeFileSync(join(dir, 'pw'), 'from-file-secret\n');
    writeFileSync(join(dir, 'cred'), 'from-credential');
    const s = resolveSecrets({ a: { env: 'WAVEOS_TEST_SECRET' }, b: { file: join(dir, 'pw') }, c: { credential: 'cred' } }, { WAVEOS_TEST_SECRET: 'from-env-secret', CREDENTIALS_DIRECTORY: dir });
    expect([s.get('a'), s.get('b'), s.get('c')]).toEqual(['from-env-secret', 'from-file-secret', 'from-credential']);
    expect(JSON.stringify({ s })).toBe('{"s":{"a":"[redacted]","b":"[redacted]","c":"[redacted]"}}');
    expect(() => s.get('zzz')).toThrow(/not declared/);
  });

  it('names every secret that cannot be read', () => {
    try {
      resolveSecrets({ x: { env: 'NOPE_NOT_SET' }, y: { file: join(dir, 'missing') }, z: { credential: 'q' } }, {});
      expect.unreachable();
    } catch (e) {
      expect((e as { problems: { path: string }[] }).problems.map((p) => p.path)).toEqual(['secrets.x', 'secrets.y', 'secrets.z']);
    }
  });
});
