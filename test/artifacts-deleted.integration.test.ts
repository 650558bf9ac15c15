import { existsSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, artifactsDir, cli, readJsonl, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';

const roots: string[] = [];
const daemons: DaemonProcess[] = [];
afterEach(() => {
  for (const d of daemons.splice(0)) d.proc.kill('SIGKILL');
  for (const r of roots.splice(0)) removeRoot(r);
});

describe('the artifacts folder deleted while the daemon runs', () => {
  it('is rebuilt from the journal with run_meta.json, metrics.csv, events.jsonl and latest, and an event says so', async () => {
    const root = tempRoot();
    roots.push(root);
    const d = new DaemonProcess(root);
    daemons.push(d);
    const runId = (await d.ready()).run_id as string;
    const run = join(artifactsDir(root), runId);
    // metrics.csv has its header from the start, before any telemetry flush.
    expect(readFileSync(join(run, 'metrics.csv'), 'utf8')).toMatch(/^ts,metric,value,unit,labels\n/);
    await waitFor('daemon.start exported', () => (existsSync(join(run, 'events.jsonl')) && readFileSync(join(run, 'events.jsonl'), 'utf8').includes('"daemon.start"') ? true : undefined));

    rmSync(artifactsDir(root), { recursive: true, force: true });

    // The next export pass (dev: every 5 s) notices and rebuilds.
    await waitFor('run_meta.json rebuilt', () => (existsSync(join(run, 'run_meta.json')) ? true : undefined), 20_000);
    await waitFor('events.jsonl rebuilt', () => (existsSync(join(run, 'events.jsonl')) ? true : undefined), 20_000);
    const meta = JSON.parse(readFileSync(join(run, 'run_meta.json'), 'utf8')) as { run_id: string };
    expect(meta.run_id).toBe(runId);
    expect(readlinkSync(join(artifactsDir(root), 'latest'))).toBe(runId);
    expect(readFileSync(join(run, 'metrics.csv'), 'utf8')).toMatch(/^ts,metric,value,unit,labels\n/);
    const lines = readJsonl(join(run, 'events.jsonl'));
    // This run's events from its first, in seq order, none twice.
    expect(lines[0]?.kind).toBe('daemon.start');
    const seqs = lines.map((e) => e.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    const ev = cli(['events', '--kind', 'artifacts.rebuilt', '--json', '--root', root]);
    const rebuilt = JSON.parse(ev.stdout) as { reason: string; data: { missing: string[]; run_id: string } }[];
    expect(rebuilt).toHaveLength(1);
    expect(rebuilt[0]?.data.run_id).toBe(runId);
    expect(rebuilt[0]?.data.missing).toEqual(expect.arrayContaining(['run_meta.json', 'events.jsonl', 'metrics.csv', 'latest']));
    // Later events still land after the rebuilt ones, once each.
    await waitFor('artifacts.rebuilt exported', () => (readFileSync(join(run, 'events.jsonl'), 'utf8').includes('"artifacts.rebuilt"') ? true : undefined), 20_000);
    expect((await d.kill('SIGTERM')).code).toBe(143);
    const all = readJsonl(join(run, 'events.jsonl')).map((e) => e.seq as number);
    expect(new Set(all).size).toBe(all.length);
    all.forEach((s, i) => i > 0 && expect(s).toBeGreaterThan(all[i - 1] as number));
  });
});
