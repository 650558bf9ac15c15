import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBundle } from '../daemon/bundles/index.js';
import { systemClock } from '../daemon/core/index.js';
import { type BundleListDoc, bundleList, bundleRig } from './helpers/bundle-rig.js';
import { REPO, cli, waitFor } from './helpers/daemon.js';

const { setup, track } = bundleRig({ prefix: 'waveos-selfupdate-', config: 'schema_version: 2\nbundles:\n  trial: 500ms\n' });

function launcher(root: string): { proc: ChildProcess; output: () => string } {
  let out = '';
  const proc = spawn(process.execPath, [join(REPO, 'bin/waveos-launcher.js'), 'run', '--root', root, '--log-format', 'json', '--max-starts', '2', '--restart-delay', '100'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  track(proc);
  return { proc, output: () => out };
}

interface Status {
  versions: { waveos: string; bundles: Record<string, string> };
  pid: number;
}
const status = (root: string): Status | undefined => {
  const r = cli(['status', '--root', root, '--json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as Status) : undefined;
};
const history = (root: string): BundleListDoc['history'] => bundleList(root).history;

describe('WaveOS self-update through the launcher', () => {
  it('a new daemon that crashes on start is rolled back by the launcher to the daemon that ran before', async () => {
    const { root, work, k } = setup();
    const l = launcher(root);
    const before = await waitFor('the base daemon', () => status(root), 30_000, 200);
    const base = before.versions.waveos;

    // A deliberately broken daemon build: it dies before it is ready, every time.
    const tree = join(work, 'broken-daemon');
    mkdirSync(join(tree, 'bin'), { recursive: true });
    writeFileSync(join(tree, 'package.json'), JSON.stringify({ name: 'waveos', version: '9.0.0', type: 'module' }));
    writeFileSync(join(tree, 'bin/waveos.js'), "process.stderr.write('broken daemon build: cannot start\\n');\nprocess.exit(3);\n");
    const m = await buildBundle({ dir: tree, kind: 'waveos', name: 'waveos', version: '9.0.0', key: k.key, out: join(work, 'broken.wbundle'), clock: systemClock });

    cli(['bundle', 'install', join(work, 'broken.wbundle'), '--root', root]);
    const after = await waitFor(
      'the launcher to roll back and the old daemon to answer',
      () => {
        const s = status(root);
        return s && s.pid !== before.pid && history(root)[0]?.state === 'rolled_back' ? s : undefined;
      },
      45_000,
      250,
    );
    expect(after.versions.waveos).toBe(base);
    expect(existsSync(join(root, 'var/lib/waveos/slots/waveos/waveos/current'))).toBe(false);
    expect(l.output()).toContain('broken daemon build: cannot start');
    expect(l.output()).toMatch(/started 2 time\(s\) on trial without passing it; the launcher switched back/);
    const evs = JSON.parse(cli(['events', '--root', root, '--kind', 'bundle.rolled_back', '--json']).stdout) as { source: string; data: { bundle_id: string; starts: number } }[];
    expect(evs.find((e) => e.source === 'launcher')?.data).toMatchObject({ bundle_id: m.bundle_id, starts: 2 });
    expect(l.proc.exitCode).toBeNull();
  });

  it('a good new daemon passes its trial, is committed, and reports its version', async () => {
    const { root, work, k } = setup();
    launcher(root);
    const before = await waitFor('the base daemon', () => status(root), 30_000, 200);

    const tree = join(work, 'daemon-0.2.0');
    cpSync(join(REPO, 'bin'), join(tree, 'bin'), { recursive: true });
    cpSync(join(REPO, 'dist'), join(tree, 'dist'), { recursive: true, filter: (s) => !s.endsWith('.map') });
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(tree, 'package.json'), JSON.stringify({ ...pkg, version: '0.2.0' }));
    // The compiled tree and the bundle each carry their own copy of the build stamp (the bundle reads its own).
    for (const stampFile of [join(tree, 'dist/build-info.json'), join(tree, 'dist/bundle/build-info.json')]) {
      if (!existsSync(stampFile)) continue;
      const stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as Record<string, unknown>;
      writeFileSync(stampFile, JSON.stringify({ ...stamp, version: '0.2.0' }));
    }
    const m = await buildBundle({ dir: tree, kind: 'waveos', name: 'waveos', version: '0.2.0', waveosVersion: '0.2.0', key: k.key, out: join(work, 'good.wbundle'), clock: systemClock });

    cli(['bundle', 'install', join(work, 'good.wbundle'), '--root', root]);
    const after = await waitFor(
      'the new daemon to commit',
      () => {
        const s = status(root);
        return s && s.pid !== before.pid && history(root)[0]?.state === 'committed' ? s : undefined;
      },
      45_000,
      250,
    );
    expect(after.versions.waveos).toBe('0.2.0');
    expect(after.versions.bundles.waveos).toBe(m.bundle_id);
    expect(readlinkSync(join(root, 'var/lib/waveos/slots/waveos/waveos/last_known_good'))).toBe(m.bundle_id);
  });
});
