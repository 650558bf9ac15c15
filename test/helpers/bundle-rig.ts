import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { type TestKey, appDir, buildApp, currentSlotIntact, makeKey, trustKey } from './bundles.js';
import { DaemonProcess, cli, removeRoot, tempRoot, waitFor } from './daemon.js';

export interface BundleRoot {
  root: string;
  /** Scratch space inside the root: keys, payload trees, bundle files. */
  work: string;
  /** A signing key the root trusts. */
  k: TestKey;
}

export interface BundleRig {
  /** A new root with a trusted key and etc/waveos/waveos.yaml: the rig's config followed by `extraConfig`. */
  setup: (extraConfig?: string) => BundleRoot;
  /** Starts a daemon on `root` without waiting for it. */
  launch: (root: string, env?: NodeJS.ProcessEnv) => DaemonProcess;
  /** Starts a daemon on `root` and waits until it answers. */
  start: (root: string, env?: NodeJS.ProcessEnv) => Promise<DaemonProcess>;
  /** Stops `proc` after the test, like the rig's daemons. */
  track: (proc: ChildProcess) => void;
}

/**
 * The set-up the bundle integration tests share. After each test every process the rig started or tracks
 * still running is stopped with SIGTERM (so a daemon stops its apps too) and waited for; then the roots go.
 */
export function bundleRig(opts: { prefix: string; config: string }): BundleRig {
  const roots: string[] = [];
  const procs: ChildProcess[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) {
      if (p.exitCode === null && p.signalCode === null) {
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await gone;
      }
    }
    for (const r of roots.splice(0)) removeRoot(r);
  });
  const launch = (root: string, env: NodeJS.ProcessEnv = {}): DaemonProcess => {
    const d = new DaemonProcess(root, [], env);
    procs.push(d.proc);
    return d;
  };
  return {
    setup: (extraConfig = '') => {
      const root = tempRoot(opts.prefix);
      roots.push(root);
      const work = join(root, 'work');
      mkdirSync(work);
      const k = makeKey(join(work, 'keys'));
      trustKey(root, k);
      mkdirSync(join(root, 'etc/waveos'), { recursive: true });
      writeFileSync(join(root, 'etc/waveos/waveos.yaml'), `${opts.config}${extraConfig}`);
      return { root, work, k };
    },
    launch,
    start: async (root, env = {}) => {
      const d = launch(root, env);
      await d.ready();
      return d;
    },
    track: (proc) => {
      procs.push(proc);
    },
  };
}

/** Journal events of `kind` (a prefix such as `bundle.` matches a family), through the CLI. */
export function events<T = Record<string, unknown>>(root: string, kind: string): T[] {
  const r = cli(['events', '--root', root, '--kind', kind, '--json']);
  return JSON.parse(r.stdout) as T[];
}

export interface BundleEvent {
  kind: string;
  source: string;
  data: Record<string, unknown>;
}

/** Every bundle.* event. */
export const bundleEvents = (root: string): BundleEvent[] => events<BundleEvent>(root, 'bundle.');

export interface BundleListDoc {
  active: { state: string } | null;
  installed: { current: string }[];
  history: { install_id: string; state: string; version?: string }[];
}

/** `waveos bundle list --json`. */
export const bundleList = (root: string): BundleListDoc => JSON.parse(cli(['bundle', 'list', '--root', root, '--json']).stdout) as BundleListDoc;

/** The version and pid an app payload from `appDir` wrote when it started, if it has. */
export function appVersion(root: string, name = 'demo'): { version: string; pid: number } | undefined {
  try {
    const [version, pid] = readFileSync(join(root, `app-${name}.version`), 'utf8').trim().split(' ');
    return { version: version as string, pid: Number(pid) };
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs 1.0.0, then 1.1.0 on a daemon started with WAVEOS_FAULT=`point` (killed -9 there), and checks that
 * the board is on the old or the new version, never a mix, and that a restart finishes the install.
 */
export async function installKilledAt(rig: BundleRig, point: string): Promise<void> {
  const { root, work, k } = rig.setup();
  let d = rig.launch(root);
  await d.ready();
  const old = await buildApp(k, appDir(work, 'demo', '1.0.0'), join(work, 'v1.bundle'), '1.0.0');
  expect(cli(['bundle', 'install', join(work, 'v1.bundle'), '--root', root]).code).toBe(0);
  await d.kill('SIGTERM');

  const m = await buildApp(k, appDir(work, 'demo', '1.1.0'), join(work, 'v11.bundle'), '1.1.0');
  d = rig.launch(root, { WAVEOS_FAULT: point });
  await d.ready();
  const r = cli(['bundle', 'install', join(work, 'v11.bundle'), '--root', root]);
  expect(r.code).not.toBe(0);
  expect((await d.exit).signal).toBe('SIGKILL');

  // Right after the kill: current is one complete slot, the old or the new.
  const atKill = currentSlotIntact(root, 'app', 'demo');
  expect([old.bundle_id, m.bundle_id]).toContain(atKill?.bundle_id);

  // Restart without the fault: start-up resumes the install to its end.
  d = rig.launch(root);
  await d.ready();
  const done = await waitFor(`the install interrupted at ${point} to settle`, () => {
    const l = bundleList(root);
    return l.active === null ? l : undefined;
  }, 30_000, 200);
  expect(done.history[0]?.state).toBe('committed');
  expect(currentSlotIntact(root, 'app', 'demo')?.version).toBe('1.1.0');
  await waitFor('the app to run 1.1.0', () => (appVersion(root)?.version === '1.1.0' ? true : undefined));
  if (point !== 'bundle.after:committed') expect(bundleEvents(root).some((e) => e.kind === 'bundle.resumed')).toBe(true);
  // Only the slots still needed are left: current (= last known-good) and the one before.
  const slotDirs = readdirSync(join(root, 'var/lib/waveos/slots/app/demo')).filter((n) => /^[0-9a-f]{64}$/.test(n));
  expect(slotDirs.sort()).toEqual([old.bundle_id, m.bundle_id].sort());
}
