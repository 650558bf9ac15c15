import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appVersion, bundleEvents, bundleList as list, bundleRig, installKilledAt } from './helpers/bundle-rig.js';
import { appDir, buildApp, currentSlotIntact } from './helpers/bundles.js';
import { cli, waitFor } from './helpers/daemon.js';

const rig = bundleRig({ prefix: 'waveos-bundles-crash-', config: 'schema_version: 2\nbundles:\n  trial: 300ms\n  max_trial_starts: 3\n' });
const { setup, launch } = rig;

describe('kill -9 at every state of the install machine (from activation on)', () => {
  const points = ['activated', 'trial', 'committed'].map((s) => (s.includes(':') ? s : `bundle.after:${s}`));
  it.each(points)('%s: the board is on the old or the new version, never a mix, and a restart finishes the install', (point) => installKilledAt(rig, point));

  it('a daemon that keeps dying during the trial is rolled back after max_trial_starts (a persisted counter)', async () => {
    const { root, work, k } = setup();
    let d = launch(root);
    await d.ready();
    const v1 = await buildApp(k, appDir(work, 'demo', '1.0.0'), join(work, 'v1.bundle'), '1.0.0');
    expect(cli(['bundle', 'install', join(work, 'v1.bundle'), '--root', root]).code).toBe(0);
    await d.kill('SIGTERM');
    await buildApp(k, appDir(work, 'demo', '2.0.0'), join(work, 'v2.bundle'), '2.0.0');

    // Every start dies as soon as the trial is journaled: three starts of the trial, each killed.
    d = launch(root, { WAVEOS_FAULT: 'bundle.after:trial' });
    await d.ready();
    cli(['bundle', 'install', join(work, 'v2.bundle'), '--root', root]);
    expect((await d.exit).signal).toBe('SIGKILL');
    for (let i = 0; i < 2; i++) {
      d = launch(root, { WAVEOS_FAULT: 'bundle.after:trial' });
      expect((await d.exit).signal).toBe('SIGKILL');
    }
    // The fourth start does not try again: it rolls back to 1.0.0.
    d = launch(root, { WAVEOS_FAULT: 'bundle.after:trial' });
    await d.ready();
    const done = await waitFor('the rollback', () => {
      const l = list(root);
      return l.active === null ? l : undefined;
    }, 30_000, 200);
    expect(done.history[0]?.state).toBe('rolled_back');
    expect(currentSlotIntact(root, 'app', 'demo')?.bundle_id).toBe(v1.bundle_id);
    await waitFor('1.0.0 to run again', () => (appVersion(root)?.version === '1.0.0' ? true : undefined));
    const rb = bundleEvents(root).filter((e) => e.kind === 'bundle.rolled_back');
    expect(rb.at(-1)?.data.trial_starts).toBe(3);
    expect(bundleEvents(root).filter((e) => e.kind === 'bundle.trial')).toHaveLength(4); // v1 once, v2 three times
  });
});
