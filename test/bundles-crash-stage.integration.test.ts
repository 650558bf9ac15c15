import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appDir, buildApp, currentSlotIntact, makeKey, trustKey } from './helpers/bundles.js';
import { DaemonProcess, cli, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';

const roots: string[] = [];
const daemons: DaemonProcess[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) {
    if (d.proc.exitCode === null && d.proc.signalCode === null) await d.kill('SIGTERM');
  }
  for (const r of roots.splice(0)) removeRoot(r);
});

function setup(): { root: string; work: string; k: ReturnType<typeof makeKey> } {
  const root = tempRoot('waveos-bundles-crash-');
  roots.push(root);
  const work = join(root, 'work');
  mkdirSync(work);
  const k = makeKey(join(work, 'keys'));
  trustKey(root, k);
  mkdirSync(join(root, 'etc/waveos'), { recursive: true });
  writeFileSync(join(root, 'etc/waveos/waveos.yaml'), 'schema_version: 2\nbundles:\n  trial: 300ms\n  max_trial_starts: 3\n');
  return { root, work, k };
}

function launch(root: string, env: NodeJS.ProcessEnv = {}): DaemonProcess {
  const d = new DaemonProcess(root, [], env);
  daemons.push(d);
  return d;
}

interface ListDoc {
  active: { state: string } | null;
  history: { install_id: string; state: string; version?: string }[];
}
const list = (root: string): ListDoc => JSON.parse(cli(['bundle', 'list', '--root', root, '--json']).stdout) as ListDoc;
const bundleEvents = (root: string): { kind: string; source: string; data: Record<string, unknown> }[] =>
  JSON.parse(cli(['events', '--root', root, '--kind', 'bundle.', '--json']).stdout) as { kind: string; source: string; data: Record<string, unknown> }[];

function appVersion(root: string): string | undefined {
  try {
    return readFileSync(join(root, 'app-demo.version'), 'utf8').split(' ')[0];
  } catch {
    return undefined;
  }
}

describe('kill -9 at every state of the install machine (before activation)', () => {
  const points = ['received', 'verified', 'bundle.during:staging', 'staged'].map((s) => (s.includes(':') ? s : `bundle.after:${s}`));
  it.each(points)('%s: the board is on the old or the new version, never a mix, and a restart finishes the install', async (point) => {
    const { root, work, k } = setup();
    let d = launch(root);
    await d.ready();
    const old = await buildApp(k, appDir(work, 'demo', '1.0.0'), join(work, 'v1.bundle'), '1.0.0');
    expect(cli(['bundle', 'install', join(work, 'v1.bundle'), '--root', root]).code).toBe(0);
    await d.kill('SIGTERM');

    const m = await buildApp(k, appDir(work, 'demo', '1.1.0'), join(work, 'v11.bundle'), '1.1.0');
    d = launch(root, { WAVEOS_FAULT: point });
    await d.ready();
    const r = cli(['bundle', 'install', join(work, 'v11.bundle'), '--root', root]);
    expect(r.code).not.toBe(0);
    expect((await d.exit).signal).toBe('SIGKILL');

    // Right after the kill: current is one complete slot, the old or the new.
    const atKill = currentSlotIntact(root, 'app', 'demo');
    expect([old.bundle_id, m.bundle_id]).toContain(atKill?.bundle_id);

    // Restart without the fault: start-up resumes the install to its end.
    d = launch(root);
    await d.ready();
    const done = await waitFor(`the install interrupted at ${point} to settle`, () => {
      const l = list(root);
      return l.active === null ? l : undefined;
    }, 30_000, 200);
    expect(done.history[0]?.state).toBe('committed');
    expect(currentSlotIntact(root, 'app', 'demo')?.version).toBe('1.1.0');
    await waitFor('the app to run 1.1.0', () => (appVersion(root) === '1.1.0' ? true : undefined));
    if (point !== 'bundle.after:committed') expect(bundleEvents(root).some((e) => e.kind === 'bundle.resumed')).toBe(true);
    // Only the slots still needed are left: current (= last known-good) and the one before.
    const slotDirs = readdirSync(join(root, 'var/lib/waveos/slots/app/demo')).filter((n) => /^[0-9a-f]{64}$/.test(n));
    expect(slotDirs.sort()).toEqual([old.bundle_id, m.bundle_id].sort());
  });
});
