import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall } from '../daemon/api/index.js';
import { DaemonProcess, cli, removeRoot, tempRoot } from './helpers/daemon.js';
import { writeConfig } from './helpers/services.js';

const ROLES = ['viewer', 'operator', 'admin'] as const;
type Role = (typeof ROLES)[number];

let root: string;
let daemon: DaemonProcess;
const tokens: Record<string, string> = {};

function createOffline(name: string, role: Role): string {
  const r = cli(['token', 'create', name, '--role', role, '--offline', '--json', '--root', root]);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { token: string }).token;
}

beforeAll(async () => {
  root = tempRoot();
  for (const role of ROLES) tokens[role] = createOffline(`${role}-token`, role);
  tokens.revoked = createOffline('gone', 'admin');
  expect(cli(['token', 'revoke', 'gone', '--offline', '--root', root]).code).toBe(0);
  // The matrix is hundreds of failed authentications on purpose: lift the throttle, which has its own test.
  daemon = new DaemonProcess(root, ['--profile', 'prod', '--config', writeConfig(root, { profile: 'prod', api: { auth_failure_burst: 100_000 } })]);
  // In prod a token-less status is denied, so readiness is polled with a viewer token.
  await daemon.ready(20_000, { WAVEOS_TOKEN: tokens.viewer });
});

afterAll(async () => {
  await daemon?.kill('SIGTERM');
  removeRoot(root);
});

describe('RBAC on the control API (prod profile)', () => {
  it('every action x every role, and no, malformed, unknown and revoked tokens: allowed exactly by role, each decision audited', async () => {
    const socketPath = join(root, 'run/waveos/waveos.sock');
    const listing = await apiCall({ socketPath, token: tokens.viewer }, 'GET', '/v1/routes');
    expect(listing.status).toBe(200);
    const routes = (listing.body as { routes: { method: string; path: string; action: string; role: Role }[] }).routes;
    expect(routes.map((r) => r.action)).toEqual(expect.arrayContaining(['status.read', 'events.read', 'token.create', 'token.list', 'token.revoke']));
    const auditFile = join(root, 'var/log/waveos/audit.jsonl');
    const before = readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).length;

    const callers: { who: string; token: string | undefined; role: Role | null }[] = [
      { who: 'no token', token: undefined, role: null },
      { who: 'malformed', token: 'not a token at all', role: null },
      { who: 'unknown', token: 'wos_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', role: null },
      { who: 'revoked', token: tokens.revoked, role: null },
      ...ROLES.map((role) => ({ who: role, token: tokens[role], role })),
    ];
    const expected: string[] = [];
    for (const r of routes) {
      for (const c of callers) {
        const allowed = c.role !== null && ROLES.indexOf(c.role) >= ROLES.indexOf(r.role);
        // A body that fails validation: an allowed caller gets past authorization and no further.
        const body = r.method === 'GET' ? undefined : { __invalid: true };
        const res = await apiCall({ socketPath, token: c.token }, r.method, r.path, body);
        if (allowed) expect([401, 403], `${c.who} on ${r.method} ${r.path}`).not.toContain(res.status);
        else expect([401, 403], `${c.who} on ${r.method} ${r.path}`).toContain(res.status);
        expect(res.status, `${c.who} on ${r.method} ${r.path}`).toBeLessThan(500);
        expected.push(`${allowed ? 'allow' : 'deny'} ${r.action}`);
      }
    }
    const audit = readFileSync(auditFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .slice(before)
      .map((l) => JSON.parse(l) as { decision: string; action: string; token: string | null });
    expect(audit.map((a) => `${a.decision} ${a.action}`)).toEqual(expected);
    const text = readFileSync(auditFile, 'utf8');
    for (const t of Object.values(tokens)) expect(text).not.toContain(t);
  });

  it('the CLI exits 4 when denied and works with a token from WAVEOS_TOKEN or --token-file', () => {
    // Token-less, the CLI of the daemon's own user (or root) comes in on the admin socket; a token is judged alone.
    expect(cli(['status', '--root', root]).code).toBe(0);
    expect(cli(['status', '--root', root], { WAVEOS_TOKEN: tokens.revoked }).code).toBe(4);
    expect(cli(['status', '--root', root], { WAVEOS_TOKEN: tokens.viewer }).code).toBe(0);
    expect(cli(['token', 'list', '--root', root], { WAVEOS_TOKEN: tokens.operator }).code).toBe(4);
    const created = cli(['token', 'create', 'ci-bot', '--role', 'viewer', '--json', '--root', root], { WAVEOS_TOKEN: tokens.admin });
    expect(created.code, created.stderr).toBe(0);
    const bot = (JSON.parse(created.stdout) as { token: string }).token;
    expect(cli(['status', '--root', root], { WAVEOS_TOKEN: bot }).code).toBe(0);
    expect(cli(['token', 'revoke', 'ci-bot', '--root', root], { WAVEOS_TOKEN: tokens.admin }).code).toBe(0);
    expect(cli(['status', '--root', root], { WAVEOS_TOKEN: bot }).code).toBe(4);
    const events = JSON.parse(cli(['events', '--json', '--kind', 'token.', '--root', root], { WAVEOS_TOKEN: tokens.viewer }).stdout) as { kind: string; data: Record<string, unknown> }[];
    expect(events.map((e) => e.kind)).toEqual(['token.created', 'token.revoked']);
    expect(JSON.stringify(events)).not.toContain(bot);
  });
});
