import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, REPO, cli, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';
import { type Ev, events, killMarked, writeConfig } from './helpers/services.js';

const MARK = 'WAVEOS_TEST_MARK';
const BOUND = join(REPO, 'test/fixtures/bound-log-writer.mjs');
const WRITER = join(REPO, 'test/fixtures/log-writer.mjs');
const roots: string[] = [];
const daemons: DaemonProcess[] = [];
const users: string[] = [];

afterEach(async () => {
  const stopping = daemons.splice(0);
  for (const d of stopping) d.proc.kill('SIGKILL');
  await Promise.all(stopping.map((d) => d.exit));
  for (const r of roots.splice(0)) {
    killMarked(MARK, r);
    // services run in their own process groups and carry the supervisor's root marker, not the test's
    killMarked('WAVEOS_SUPERVISOR_ROOT', r);
    removeRoot(r);
  }
  for (const u of users.splice(0)) spawnSync('userdel', [u]);
});

/** A daemon on a root that other users may traverse (a temp dir is 0700), so socket modes alone decide. */
async function startDaemon(doc: Record<string, unknown>): Promise<string> {
  const root = tempRoot('waveos-logsrc-');
  roots.push(root);
  chmodSync(root, 0o755);
  const d = new DaemonProcess(root, ['--config', writeConfig(root, doc)], { [MARK]: root });
  daemons.push(d);
  await d.ready();
  return root;
}

function boundService(name: string, claim: string, count: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, command: process.execPath, args: [BOUND, claim, String(count)], ...extra };
}

const SPOOLER = { spooler: { report_interval: '1s', flush_interval: '50ms' } };

/** Every text line stored under a source, read from the spool files. */
function spooled(root: string, source: string): string {
  const dir = join(root, 'var/log/waveos/spool', source);
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
  } catch {
    return '';
  }
}

function logLines(root: string, source: string, grep: string): string[] {
  const r = cli(['logs', source, '--grep', grep, '--root', root]);
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

function writeShared(root: string, source: string, count: number, extra: string): Promise<number | null> {
  const c = spawn(process.execPath, [WRITER, join(root, 'run/waveos/log.sock'), source, String(count), '0', extra], { stdio: 'ignore' });
  return new Promise((r) => c.on('exit', (code) => r(code)));
}

function refusedLines(evs: Ev[], source: string): number {
  return evs.filter((e) => e.data.source === source).reduce((a, e) => a + Number(e.data.lines), 0);
}

describe('log sources bound to the writer', () => {
  it("stores what a service writes to its own socket under its name, whatever the lines claim", async () => {
    const root = await startDaemon({ ...SPOOLER, services: [boundService('bound-app', 'other-app', 50)] });
    const sock = join(root, 'run/waveos/log/bound-app.sock');
    const lines = await waitFor('the service’s lines under bound-app', () => {
      const l = logLines(root, 'bound-app', 'bound-line');
      return l.length === 50 ? l : undefined;
    });
    expect(lines[0]).toMatch(/^\S+ socket bound-line n=1$/);
    expect(logLines(root, 'bound-app', 'bound-json')).toEqual([expect.stringMatching(/ socket \{"source":"other-app","msg":"bound-json"\}$/)]);
    // the hello named another source: it was taken as the hello, not stored, and its name ignored
    expect(lines[0]).not.toContain('other-app');
    // a later source= line is content, not a switch
    expect(logLines(root, 'bound-app', 'source=other-app')).toHaveLength(1);
    expect(readdirSync(join(root, 'var/log/waveos/spool'))).not.toContain('other-app');
    expect(statSync(sock).isSocket()).toBe(true);
    expect(statSync(sock).mode & 0o777).toBe(0o660);
    // nothing of it reached the daemon's own source
    expect(spooled(root, 'waveos')).not.toContain('bound-line');
  });

  it('refuses on log.sock the names waveos and a service’s, with an event saying how many lines; a free name still works', async () => {
    const root = await startDaemon({ ...SPOOLER, services: [boundService('guarded', 'guarded', 1)] });
    await waitFor('the service’s own socket', () => (logLines(root, 'guarded', 'bound-line').length === 1 ? true : undefined));
    expect(await writeShared(root, 'waveos', 30, 'FORGED-SELF ')).toBe(0);
    expect(await writeShared(root, 'guarded', 20, 'FORGED-SVC ')).toBe(0);
    expect(await writeShared(root, 'free-app', 10, 'FREE-NAME ')).toBe(0);
    const evs = await waitFor('spool.source_refused events for both names', () => {
      const e = events(root, 'spool.source_refused');
      return refusedLines(e, 'waveos') === 30 && refusedLines(e, 'guarded') === 20 ? e : undefined;
    });
    const svc = evs.find((e) => e.data.source === 'guarded') as Ev;
    expect(svc.severity).toBe('warning');
    expect(svc.reason).toMatch(/claiming source "guarded".*supervised service guarded.*run\/waveos\/log\/guarded\.sock.*WAVEOS_LOG_SOCKET/);
    expect(svc.data.service_socket).toBe(join(root, 'run/waveos/log/guarded.sock'));
    expect((evs.find((e) => e.data.source === 'waveos') as Ev).reason).toMatch(/WaveOS's own source/);
    await waitFor('the free name’s lines', () => (logLines(root, 'free-app', 'FREE-NAME').length === 10 ? true : undefined));
    expect(spooled(root, 'waveos')).not.toContain('FORGED-');
    expect(spooled(root, 'guarded')).not.toContain('FORGED-');
    expect(logLines(root, 'guarded', 'FORGED-')).toEqual([]);
  });

  const root = process.getuid?.() === 0;
  it.runIf(root)('as root, gives a service’s socket to its user: that user writes it, another user gets EACCES', async () => {
    const tag = Math.random().toString(36).slice(2, 8);
    const owner = `wvlog${tag}`;
    const other = `wvoth${tag}`;
    for (const u of [owner, other]) {
      expect(spawnSync('useradd', ['-M', '-r', '-s', '/usr/sbin/nologin', u]).status).toBe(0);
      users.push(u);
    }
    const id = (u: string): number => Number(spawnSync('id', ['-u', u], { encoding: 'utf8' }).stdout.trim());
    const gidOf = (u: string): number => Number(spawnSync('id', ['-g', u], { encoding: 'utf8' }).stdout.trim());
    // The service runs the fixture as its user: a copy in the traversable test root, since a fresh clone may
    // sit under a 0700 temp dir (and opening that for one test would race the others' undo).
    const fixture = join(tempRoot('waveos-logsrc-fixture-'), 'bound-log-writer.mjs');
    roots.push(dirname(fixture));
    chmodSync(dirname(fixture), 0o755);
    copyFileSync(BOUND, fixture);
    const r = await startDaemon({ ...SPOOLER, services: [{ ...boundService('owned-app', 'waveos', 5, { user: owner }), args: [fixture, 'waveos', '5'] }] });
    const sock = join(r, 'run/waveos/log/owned-app.sock');
    await waitFor('the service’s lines, written as its user', () => (logLines(r, 'owned-app', 'bound-line').length === 5 ? true : undefined));
    // Given a user and no group, the service runs in that user's own group, never the daemon's (root's).
    const listed = JSON.parse(cli(['service', 'list', '--json', '--root', r]).stdout) as { services: { name: string; pid: number | null }[] };
    const pid = listed.services.find((x) => x.name === 'owned-app')?.pid;
    if (pid) {
      const gids = /^Gid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      const groups = /^Groups:[ \t]*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim();
      expect(Number(gids)).toBe(gidOf(owner));
      expect(groups).toBe('');
    }
    const st = statSync(sock);
    expect(st.uid).toBe(id(owner));
    expect(st.mode & 0o777).toBe(0o660);
    const probe = `require('net').createConnection(${JSON.stringify(sock)}).on('connect',()=>{console.log('CONNECTED');process.exit(0)}).on('error',(e)=>{console.log(e.code);process.exit(0)})`;
    const as = (u: string): string => spawnSync(process.execPath, ['-e', probe], { uid: id(u), gid: gidOf(u), encoding: 'utf8', cwd: '/' }).stdout.trim();
    expect(as(other)).toBe('EACCES');
    expect(as(owner)).toBe('CONNECTED');
  });
});
