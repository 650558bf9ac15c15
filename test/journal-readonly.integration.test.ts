import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, cli, removeRoot, sleep, tempRoot, waitFor } from './helpers/daemon.js';

const roots: string[] = [];
const daemons: DaemonProcess[] = [];
let immutable: string[] = [];

/** chattr on the journal's own files: what an operator (or a fault) does to a running board. */
function chattr(flag: '+i' | '-i', files: string[]): void {
  const r = spawnSync('chattr', [flag, ...files], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`chattr ${flag} failed (this test needs root on ext4 or another filesystem with immutable files): ${r.stderr}`);
}

afterEach(() => {
  // Always undone first: an immutable file cannot be removed, not even by root.
  if (immutable.length) chattr('-i', immutable.filter((f) => existsSync(f)));
  immutable = [];
  for (const d of daemons.splice(0)) d.proc.kill('SIGKILL');
  for (const r of roots.splice(0)) removeRoot(r);
});

interface Ev {
  seq: number;
  kind: string;
  reason: string;
  data: Record<string, unknown>;
}

function events(root: string): { code: number; events: Ev[] } {
  const r = cli(['events', '--json', '--root', root]);
  return { code: r.code, events: r.code === 0 ? (JSON.parse(r.stdout) as Ev[]) : [] };
}

function status(root: string): { journal: { last_seq: number; read_only: { held_events: number; error: string } | null } } {
  const r = cli(['status', '--json', '--root', root]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as ReturnType<typeof status>;
}

describe('a journal whose files turn read-only while the daemon runs', () => {
  it('keeps reads working, refuses durable actions with a clear error, stays up, and commits everything once writable again', async () => {
    const root = tempRoot();
    roots.push(root);
    const d = new DaemonProcess(root);
    daemons.push(d);
    await d.ready();
    const db = join(root, 'var/lib/waveos/waveos.db');
    const files = [db, `${db}-wal`, `${db}-shm`].filter((f) => existsSync(f));
    expect(files.length).toBeGreaterThanOrEqual(2);
    const before = events(root).events.length;
    chattr('+i', files);
    immutable = files;

    // A durable action is refused at its intent, cleanly; nothing half-recorded is left to commit later.
    const refused = cli(['mode', 'set', 'degraded', '--reason', 'read-only journal test', '--root', root]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/WAVEOS_E_JOURNAL_READONLY/);
    expect(refused.stderr).toMatch(/cannot be written/);

    // Reads keep working every time, across the background flushes (telemetry, artifacts: dev flushes every 5 s).
    for (let i = 0; i < 5; i++) {
      const r = events(root);
      expect(r.code).toBe(0);
      expect(r.events.length).toBeGreaterThanOrEqual(before);
      const s = status(root);
      expect(s.journal.read_only, 'status says the journal is read-only').not.toBeNull();
      expect(s.journal.read_only?.error).toMatch(/EPERM|EROFS|EACCES/);
      await sleep(1_500);
    }
    expect(d.exited, `the daemon exited: ${d.recentOutput(5)}`).toBe(false);
    expect(d.output).toMatch(/the journal cannot commit: running degraded/);

    chattr('-i', files);
    immutable = [];
    // Once writable, the held events commit in order: when it began, then that it is over.
    const back = await waitFor('journal.writable_again', () => {
      const evs = events(root).events;
      return evs.some((e) => e.kind === 'journal.writable_again') ? evs : undefined;
    });
    const ro = back.findIndex((e) => e.kind === 'journal.read_only');
    const again = back.findIndex((e) => e.kind === 'journal.writable_again');
    expect(ro).toBeGreaterThanOrEqual(0);
    expect(ro).toBeLessThan(again);
    expect(back[ro]?.data.error).toMatch(/EPERM/);
    // The refused mode change left no action.requested behind.
    expect(back.filter((e) => e.kind === 'action.requested' && (e.data as { action?: string }).action === 'mode.set')).toHaveLength(0);
    expect(status(root).journal.read_only).toBeNull();
    const ok = cli(['mode', 'set', 'degraded', '--reason', 'writable again', '--root', root]);
    expect(ok.code, ok.stderr).toBe(0);

    expect((await d.kill('SIGTERM')).code).toBe(143);
    const verify = cli(['journal', 'verify', '--root', root]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});
