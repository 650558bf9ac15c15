import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, artifactsDir, cli, readJsonl, removeRoot, runFolders, tempRoot, waitFor } from './helpers/daemon.js';

const roots: string[] = [];
const daemons: DaemonProcess[] = [];
function newRoot(): string {
  const r = tempRoot();
  roots.push(r);
  return r;
}
function start(root: string, args: string[] = []): DaemonProcess {
  const d = new DaemonProcess(root, args);
  daemons.push(d);
  return d;
}
afterEach(() => {
  for (const d of daemons.splice(0)) d.proc.kill('SIGKILL');
  for (const r of roots.splice(0)) removeRoot(r);
});

interface Meta {
  run_id: string;
  started_at: string;
  previous_run: { run_id: string; ended: string; reset_reason: string } | null;
}

function meta(root: string, run: string): Meta {
  return JSON.parse(readFileSync(join(artifactsDir(root), run, 'run_meta.json'), 'utf8')) as Meta;
}

function allExportedSeqs(root: string): number[] {
  const seqs: number[] = [];
  for (const run of runFolders(root)) {
    const f = join(artifactsDir(root), run, 'events.jsonl');
    if (!existsSync(f)) continue;
    const text = readFileSync(f, 'utf8');
    expect(text === '' || text.endsWith('\n'), `torn last line in ${run}/events.jsonl`).toBe(true);
    for (const e of readJsonl(f)) seqs.push(e.seq as number);
  }
  return seqs.sort((a, b) => a - b);
}

function expectContinuous(seqs: number[]): void {
  expect(seqs.length).toBeGreaterThan(0);
  expect(seqs[0]).toBe(1);
  seqs.forEach((s, i) => expect(s, `seq at position ${i}`).toBe(i + 1));
}

describe('the daemon across kill -9 and clean stops', () => {
  it('keeps seq continuous, the chain intact, and tells crash from clean stop in run_meta.json', async () => {
    const root = newRoot();
    const first = start(root);
    const status = await first.ready();
    expect(status.run_id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    expect(status.previous_run).toBeNull();
    // daemon.start reaches events.jsonl within one flush interval (dev: 5 s).
    const firstRun = status.run_id as string;
    const eventsFile = join(artifactsDir(root), firstRun, 'events.jsonl');
    await waitFor(
      'daemon.start in events.jsonl',
      () => (existsSync(eventsFile) && readFileSync(eventsFile, 'utf8').includes('"daemon.start"') ? true : undefined),
      6_000,
    );

    expect((await first.kill('SIGKILL')).signal).toBe('SIGKILL');

    const second = start(root);
    const s2 = await second.ready();
    expect(cli(['journal', 'verify', '--root', root]).code).toBe(0);
    const m2 = meta(root, s2.run_id as string);
    expect(m2.previous_run?.run_id).toBe(firstRun);
    expect(m2.previous_run?.ended).toBe('power-loss-or-kill');
    expect(m2.previous_run?.reset_reason).toMatch(/killed without a clean stop/);

    const stopped = await second.kill('SIGTERM');
    expect(stopped.code).toBe(143);
    expect(allExportedSeqs(root)).toHaveLength(readJsonl(join(artifactsDir(root), s2.run_id as string, 'events.jsonl')).at(-1)?.seq as number);

    const third = start(root);
    const s3 = await third.ready();
    const m3 = meta(root, s3.run_id as string);
    expect(m3.previous_run?.run_id).toBe(s2.run_id);
    expect(m3.previous_run?.ended).toBe('clean');
    expect((await third.kill('SIGTERM')).code).toBe(143);

    expect(runFolders(root)).toHaveLength(3);
    expectContinuous(allExportedSeqs(root));
    const verify = cli(['journal', 'verify', '--root', root]);
    expect(verify.code, verify.stderr).toBe(0);
    // The second run's daemon.start carries the first run's ending as data.
    const events = JSON.parse(cli(['events', '--json', '--kind', 'daemon.start', '--root', root]).stdout) as {
      data: { previous_run: { ended: string } | null };
    }[];
    expect(events.map((e) => e.data.previous_run?.ended ?? null)).toEqual([null, 'power-loss-or-kill', 'clean']);
  });

  it('re-exports events that were committed but not yet written to events.jsonl when it was killed', async () => {
    const root = newRoot();
    // A long flush interval: nothing of the first run reaches events.jsonl before the kill.
    const cfg = join(root, 'waveos.yaml');
    writeFileSync(cfg, 'schema_version: 2\nartifacts:\n  flush_interval: 1h\n');
    const d = start(root, ['--config', cfg]);
    const s = await d.ready();
    await d.kill('SIGKILL');
    // The first pass at start already exported daemon.start; cut the file back to simulate the loss of a later pass.
    const f = join(artifactsDir(root), s.run_id as string, 'events.jsonl');
    writeFileSync(f, `${readFileSync(f, 'utf8')}{"v":1,"seq":99,"torn`);
    const d2 = start(root, ['--config', cfg]);
    await d2.ready();
    expect((await d2.kill('SIGTERM')).code).toBe(143);
    expectContinuous(allExportedSeqs(root));
    const trimmed = JSON.parse(cli(['events', '--json', '--kind', 'artifacts.trimmed', '--root', root]).stdout) as { data: { bytes: number } }[];
    expect(trimmed).toHaveLength(1);
    expect(trimmed[0]?.data.bytes).toBe('{"v":1,"seq":99,"torn'.length);
  });

  it('refuses a second daemon on the same root', async () => {
    const root = newRoot();
    const d = start(root);
    await d.ready();
    const other = start(root);
    const r = await other.exit;
    expect(r.code).toBe(1);
    expect(other.output).toMatch(/already runs on this root/);
    expect((await d.kill('SIGTERM')).code).toBe(143);
  });
});

describe('waveos journal verify', () => {
  it('exits 5 naming the first tampered row', async () => {
    const root = newRoot();
    const d = start(root);
    await d.ready();
    expect((await d.kill('SIGTERM')).code).toBe(143);
    const d2 = start(root);
    await d2.ready();
    expect((await d2.kill('SIGTERM')).code).toBe(143);
    const db = new Database(join(root, 'var/lib/waveos/waveos.db'));
    db.prepare("UPDATE events SET reason = reason || ' (edited)' WHERE seq = 3").run();
    db.close();
    const r = cli(['journal', 'verify', '--root', root]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/breaks at seq 3/);
    expect(r.stderr).toMatch(/changed after it was written/);
  });

  it('exits 5 when a row is deleted from the middle', async () => {
    const root = newRoot();
    const d = start(root);
    await d.ready();
    expect((await d.kill('SIGTERM')).code).toBe(143);
    const db = new Database(join(root, 'var/lib/waveos/waveos.db'));
    db.prepare('DELETE FROM events WHERE seq = 1').run();
    db.close();
    const r = cli(['journal', 'verify', '--root', root]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/seq 2/);
  });
});

describe('the command without a daemon', () => {
  it('status exits 3 when no daemon listens', () => {
    const root = newRoot();
    const r = cli(['status', '--root', root]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/not reachable/);
  });

  it('events reads the journal offline', async () => {
    const root = newRoot();
    const d = start(root);
    await d.ready();
    expect((await d.kill('SIGTERM')).code).toBe(143);
    const r = cli(['events', '--json', '--kind', 'daemon.', '--root', root]);
    expect(r.code).toBe(0);
    // Other modules journal their own start-up (services, policies, the device key): only the daemon's own events are fixed here.
    const kinds = (JSON.parse(r.stdout) as { kind: string }[]).map((e) => e.kind).filter((k) => k.startsWith('daemon.'));
    expect(kinds).toEqual(['daemon.start', 'daemon.stop']);
    expect(cli(['events', '--since', 'yesterday', '--root', root]).code).toBe(2);
  });

  it('unknown commands and flags are usage errors', () => {
    expect(cli(['frobnicate']).code).toBe(2);
    expect(cli(['status', '--no-such-flag']).code).toBe(2);
  });
});
