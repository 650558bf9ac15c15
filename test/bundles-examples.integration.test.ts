import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleRig, events } from './helpers/bundle-rig.js';
import { hashTree } from './helpers/bundles.js';
import { cli } from './helpers/daemon.js';

const { setup, start } = bundleRig({ prefix: 'waveos-bundles-', config: 'schema_version: 2\nbundles:\n  trial: 300ms\n  inbox_stable: 200ms\n' });

describe('the worked examples under bundles/examples', () => {
  it('build with the CLI, verify, and install: app, config, certs and policy', async () => {
    const { root, work, k } = setup();
    await start(root);
    const ex = join(import.meta.dirname, '../bundles/examples');
    const builds: [string, string[]][] = [
      ['app-hello', ['--kind', 'app', '--name', 'hello-app', '--run', './run.sh', '--health', './health.sh', '--trial', '300ms']],
      ['config-site', ['--kind', 'config', '--name', 'site']],
      ['certs-fleet', ['--kind', 'certs', '--name', 'fleet-ca']],
      ['policy-default', ['--kind', 'policy', '--name', 'default', '--policy-version', '2026.11']],
    ];
    for (const [dir, flags] of builds) {
      const out = join(work, `${dir}.wbundle`);
      const b = cli(['bundle', 'build', join(ex, dir), ...flags, '--version', '1.0.0', '--key', k.keyFile, '--out', out]);
      expect({ dir, code: b.code, err: b.stderr }).toEqual({ dir, code: 0, err: '' });
      expect(cli(['bundle', 'verify', out, '--root', root]).code).toBe(0);
      expect(cli(['bundle', 'inspect', out]).stdout).toContain('version 1.0.0');
      const r = cli(['bundle', 'install', out, '--root', root]);
      expect({ dir, code: r.code, out: r.stdout }).toMatchObject({ dir, code: 0 });
    }
    const status = JSON.parse(cli(['status', '--root', root, '--json']).stdout) as { versions: { policy: string; bundles: Record<string, string> } };
    expect(Object.keys(status.versions.bundles).sort()).toEqual(['app', 'certs', 'config', 'policy']);
    // The installed policy bundle's file is enforced: its version is part of the effective policy version.
    expect(status.versions.policy).toContain('default@2026.11');
    const { statSync } = await import('node:fs');
    const cert = join(root, 'var/lib/waveos/slots/certs/fleet-ca/current/payload/ca/fleet-root.pem');
    expect(statSync(cert).mode & 0o777).toBe(0o600);

    // A config bundle that breaks the config schema is refused before activation.
    const bad = join(work, 'bad-config');
    mkdirSync(bad);
    writeFileSync(join(bad, 'waveos.yaml'), 'schema_version: 2\ndevice:\n  colour: blue\n');
    const slots = hashTree(join(root, 'var/lib/waveos/slots'));
    expect(cli(['bundle', 'build', bad, '--kind', 'config', '--name', 'site', '--version', '1.1.0', '--key', k.keyFile, '--out', join(work, 'bad.wbundle')]).code).toBe(0);
    const r = cli(['bundle', 'install', join(work, 'bad.wbundle'), '--root', root]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('WAVEOS_E_BUNDLE_CONTENT');
    expect((events(root, 'bundle.rejected').at(-1) as { data: { check: string } }).data.check).toBe('content.config');
    expect(hashTree(join(root, 'var/lib/waveos/slots'))).toBe(slots);
  }, 150_000);
});

