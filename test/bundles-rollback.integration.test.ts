import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alive, appVersion, bundleRig, events } from './helpers/bundle-rig.js';
import { appDir, buildApp, currentSlotIntact, hashTree } from './helpers/bundles.js';
import { cli, readJsonl, waitFor } from './helpers/daemon.js';

const { setup, start } = bundleRig({ prefix: 'waveos-bundles-', config: 'schema_version: 2\nbundles:\n  trial: 300ms\n  inbox_stable: 200ms\n' });

describe('health gate, rollback and the loop guard', () => {
  it('an app that fails its health gate is rolled back and the old version runs again; the loop guard then refuses it', async () => {
    const { root, work, k } = setup('  max_attempts: 2\n');
    await start(root);
    const v1 = await buildApp(k, appDir(work, 'demo', '1.0.0'), join(work, 'v1.bundle'), '1.0.0');
    expect(cli(['bundle', 'install', join(work, 'v1.bundle'), '--root', root]).code).toBe(0);
    const old = await waitFor('1.0.0 to run', () => (appVersion(root)?.version === '1.0.0' ? appVersion(root) : undefined));

    await buildApp(k, appDir(work, 'demo', '2.0.0', { broken: true }), join(work, 'bad.bundle'), '2.0.0', { trialMs: 1500 });
    const r = cli(['bundle', 'install', join(work, 'bad.bundle'), '--root', root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('WAVEOS_E_BUNDLE_ROLLED_BACK');
    const rb = events(root, 'bundle.rolled_back').at(-1) as { reason: string; data: { to: string; exit_code: number } };
    expect(rb.reason).toMatch(/health gate failed: app demo 2\.0\.0 exited with code 1/);
    expect(rb.data.to).toBe(v1.bundle_id);
    expect(currentSlotIntact(root, 'app', 'demo')?.bundle_id).toBe(v1.bundle_id);
    const again = await waitFor('1.0.0 to run again', () => {
      const a = appVersion(root);
      return a?.version === '1.0.0' && a.pid !== old?.pid && alive(a.pid) ? a : undefined;
    });
    expect(again.version).toBe('1.0.0');

    // Second failure reaches the limit: the bundle is marked failed.
    expect(cli(['bundle', 'install', join(work, 'bad.bundle'), '--root', root]).code).toBe(1);
    expect(events(root, 'bundle.failed')).toHaveLength(1);
    // Third attempt: refused without being tried.
    const slots = hashTree(join(root, 'var/lib/waveos/slots'));
    const third = cli(['bundle', 'install', join(work, 'bad.bundle'), '--root', root]);
    expect(third.code).toBe(5);
    expect(third.stderr).toContain('loop guard');
    expect(hashTree(join(root, 'var/lib/waveos/slots'))).toBe(slots);
    expect(events(root, 'bundle.activated')).toHaveLength(3); // v1 and two tries of v2, no more
  }, 120_000);

  it('waveos bundle rollback goes back to the last known-good on purpose', async () => {
    const { root, work, k } = setup();
    await start(root);
    const v1 = await buildApp(k, appDir(work, 'demo', '1.0.0'), join(work, 'v1.bundle'), '1.0.0');
    await buildApp(k, appDir(work, 'demo', '1.1.0'), join(work, 'v11.bundle'), '1.1.0');
    expect(cli(['bundle', 'install', join(work, 'v1.bundle'), '--root', root]).code).toBe(0);
    expect(cli(['bundle', 'install', join(work, 'v11.bundle'), '--root', root]).code).toBe(0);
    const r = cli(['bundle', 'rollback', '--root', root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('from 1.1.0 to 1.0.0');
    expect(currentSlotIntact(root, 'app', 'demo')?.bundle_id).toBe(v1.bundle_id);
    await waitFor('1.0.0 to run', () => (appVersion(root)?.version === '1.0.0' ? true : undefined));
    // The last known-good is now 1.0.0, and installing it again is a replay; 1.1.0 may come back (it is newer).
    expect(cli(['bundle', 'install', join(work, 'v1.bundle'), '--root', root]).code).toBe(5);
    expect(cli(['bundle', 'install', join(work, 'v11.bundle'), '--root', root]).code).toBe(0);
    const audit = readJsonl(join(root, 'var/lib/waveos/artifacts/latest/events.jsonl'));
    expect(audit.length).toBeGreaterThan(0);
  });
});
