import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, DaemonProcess, REPO, cli, removeRoot, tempRoot } from './helpers/daemon.js';
import { writeConfig } from './helpers/services.js';
import { openTraversal } from './helpers/users.js';

const isRoot = process.getuid?.() === 0;
const sfx = Math.random().toString(16).slice(2, 7);
const ADMIN_GROUP = `wadm${sfx}`;
const VIEWER_GROUP = `wview${sfx}`;
const USERS = { admin: `wua${sfx}`, viewer: `wuv${sfx}`, outsider: `wun${sfx}` } as const;

let root: string;
let daemon: DaemonProcess | undefined;
/** Closes again what the test opened for traversal above the checkout. */
let closeTraversal: () => void = () => undefined;

/** The real `waveos` command run as another user, with that user's groups (runuser does initgroups). */
function cliAs(user: string, args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const r = spawnSync('runuser', ['-u', user, '--', 'env', ...vars, process.execPath, BIN, ...args, '--root', root], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function journalCount(): number {
  const r = cli(['events', '--json', '--root', root]);
  return (JSON.parse(r.stdout) as unknown[]).length;
}

beforeAll(async () => {
  if (!isRoot) return;
  execFileSync('groupadd', [ADMIN_GROUP]);
  execFileSync('groupadd', [VIEWER_GROUP]);
  execFileSync('useradd', ['-M', '-N', '-s', '/usr/sbin/nologin', '-G', ADMIN_GROUP, USERS.admin]);
  execFileSync('useradd', ['-M', '-N', '-s', '/usr/sbin/nologin', '-G', VIEWER_GROUP, USERS.viewer]);
  execFileSync('useradd', ['-M', '-N', '-s', '/usr/sbin/nologin', USERS.outsider]);
  // A fresh clone may sit under a 0700 temp dir: let the test users reach the command (traverse only).
  closeTraversal = openTraversal(REPO);
  root = tempRoot('waveos-local-');
  chmodSync(root, 0o755);
  const config = writeConfig(root, { profile: 'prod', api: { admin_group: ADMIN_GROUP, viewer_group: VIEWER_GROUP } });
  daemon = new DaemonProcess(root, ['--profile', 'prod', '--config', config]);
  await daemon.ready();
}, 60_000);

afterAll(async () => {
  if (!isRoot) return;
  await daemon?.kill('SIGTERM');
  for (const u of Object.values(USERS)) spawnSync('userdel', [u]);
  for (const g of [ADMIN_GROUP, VIEWER_GROUP]) spawnSync('groupdel', [g]);
  closeTraversal();
  if (root) removeRoot(root);
});

describe.skipIf(!isRoot)('local access on a prod board: who you are, not a secret you fetch first (real users and groups)', () => {
  it('the sockets carry the documented modes and groups', () => {
    const gid = (name: string): number => Number(readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))?.split(':')[2]);
    const run = join(root, 'run/waveos');
    expect(statSync(run).mode & 0o777).toBe(0o751);
    const admin = statSync(join(run, 'waveos-admin.sock'));
    expect([admin.mode & 0o777, admin.gid]).toEqual([0o660, gid(ADMIN_GROUP)]);
    const viewer = statSync(join(run, 'waveos-ro.sock'));
    expect([viewer.mode & 0o777, viewer.gid]).toEqual([0o660, gid(VIEWER_GROUP)]);
    expect(statSync(join(run, 'waveos.sock')).mode & 0o777).toBe(0o666);
  });

  it('root is admin without a token', () => {
    const r = cli(['status', '--json', '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    const t = cli(['token', 'create', 'first-contact', '--role', 'viewer', '--json', '--root', root]);
    expect(t.code, t.stderr).toBe(0);
  });

  it('a member of the admin group is admin without a token', () => {
    expect(cliAs(USERS.admin, ['status']).code).toBe(0);
    const r = cliAs(USERS.admin, ['mode', 'set', 'degraded', '--reason', 'local admin test']);
    expect(r.code, r.stderr).toBe(0);
    expect(cliAs(USERS.admin, ['mode', 'set', 'normal', '--reason', 'back']).code).toBe(0);
  });

  it('a member of the viewer group reads, and is refused a change (exit 4) with nothing journaled', () => {
    const s = cliAs(USERS.viewer, ['status', '--json']);
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout)).toHaveProperty('mode');
    const before = journalCount();
    const r = cliAs(USERS.viewer, ['mode', 'set', 'safe', '--reason', 'viewer tries']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/viewer/);
    expect(journalCount()).toBe(before);
  });

  it('anyone else needs a token: denied without one (exit 4), a viewer token works', () => {
    const denied = cliAs(USERS.outsider, ['status']);
    expect(denied.code, denied.stderr).toBe(4);
    expect(denied.stderr).toMatch(/token is required/);
    const t = cli(['token', 'create', 'outsider', '--role', 'viewer', '--json', '--root', root]);
    const token = (JSON.parse(t.stdout) as { token: string }).token;
    expect(cliAs(USERS.outsider, ['status'], { WAVEOS_TOKEN: token }).code).toBe(0);
    expect(cliAs(USERS.outsider, ['mode', 'set', 'safe', '--reason', 'x'], { WAVEOS_TOKEN: token }).code).toBe(4);
  });

  it('every decision is audited with the socket it came in on', () => {
    const lines = readFileSync(join(root, 'var/log/waveos/audit.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { socket?: string; decision: string });
    const sockets = new Set(lines.map((l) => `${l.socket}:${l.decision}`));
    expect([...sockets]).toEqual(expect.arrayContaining(['admin:allow', 'viewer:allow', 'viewer:deny', 'token:deny', 'token:allow']));
  });
});
