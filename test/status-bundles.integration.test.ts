import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBundle } from '../daemon/bundles/index.js';
import { systemClock } from '../daemon/core/index.js';
import { appDir, buildApp, makeKey, trustKey } from './helpers/bundles.js';
import { cli } from './helpers/daemon.js';
import { daemonFixture } from './helpers/fixture.js';
import { events } from './helpers/services.js';

const fixture = daemonFixture('waveos-status-bundles-');
const CONFIG = { telemetry: { prometheus: { enabled: false } }, bundles: { trial: '300ms' } };

interface Installed {
  kind: string;
  name: string;
  bundle_id: string;
  version: string | null;
  state: string;
}

function install(root: string, file: string): number {
  return cli(['bundle', 'install', file, '--root', root]).code;
}

describe('every installed bundle by name', () => {
  it('status and run_meta.json list two app bundles each with kind, version and state; the per-kind ids stay', async () => {
    const { root } = await fixture.start(CONFIG);
    const k = makeKey(join(root, 'keys'));
    trustKey(root, k);
    const alpha = await buildApp(k, appDir(root, 'alpha', '1.0.0'), join(root, 'alpha.bundle'), '1.0.0', { name: 'alpha' });
    const beta = await buildApp(k, appDir(root, 'beta', '2.1.0'), join(root, 'beta.bundle'), '2.1.0', { name: 'beta' });
    expect(install(root, join(root, 'alpha.bundle'))).toBe(0);
    expect(install(root, join(root, 'beta.bundle'))).toBe(0);

    const r = cli(['status', '--json', '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    const versions = (JSON.parse(r.stdout) as { versions: { bundles: Record<string, string>; bundles_by_name: Record<string, Installed> } }).versions;
    const want = {
      'app/alpha': { kind: 'app', name: 'alpha', bundle_id: alpha.bundle_id, version: '1.0.0', state: 'committed' },
      'app/beta': { kind: 'app', name: 'beta', bundle_id: beta.bundle_id, version: '2.1.0', state: 'committed' },
    };
    expect(versions.bundles_by_name).toEqual(want);
    // The contract's field: one id per kind, still there.
    expect([alpha.bundle_id, beta.bundle_id]).toContain(versions.bundles.app);

    const meta = JSON.parse(readFileSync(join(root, 'var/lib/waveos/artifacts/latest/run_meta.json'), 'utf8')) as { bundle_ids: Record<string, string>; bundles_by_name: Record<string, Installed> };
    expect(meta.bundles_by_name).toEqual(want);
    expect(meta.bundle_ids.app).toBe(versions.bundles.app);

    const human = cli(['status', '--root', root]).stdout;
    expect(human).toContain('bundles     app/alpha 1.0.0 (committed), app/beta 2.1.0 (committed)');
  }, 60_000);
});

describe('a failing health check says what failed', () => {
  it('bundle.rolled_back quotes the check\'s output, with secrets masked', async () => {
    const { root } = await fixture.start(CONFIG);
    const k = makeKey(join(root, 'keys'));
    trustKey(root, k);
    const dir = appDir(root, 'gamma', '1.0.0');
    writeFileSync(
      join(dir, 'health.sh'),
      '#!/bin/sh\necho "probing the database"\necho "UPLINK_TOKEN=s3cr3t-uplink-value" >&2\necho "error: database unreachable at 10.0.0.5:5432" >&2\nexit 3\n',
    );
    chmodSync(join(dir, 'health.sh'), 0o755);
    await buildBundle({ dir, kind: 'app', name: 'gamma', version: '1.0.0', key: k.key, out: join(root, 'gamma.bundle'), clock: systemClock, app: { run: ['./run.sh'], health: ['./health.sh'], trial_ms: 300 } });
    const r = cli(['bundle', 'install', join(root, 'gamma.bundle'), '--root', root]);
    expect(r.code).toBe(1);
    // The operator who installed it reads the same reason, masked too (it comes from the API, not the journal).
    expect(r.stderr).toContain('error: database unreachable at 10.0.0.5:5432');
    expect(r.stderr).toContain('UPLINK_TOKEN=[REDACTED]');
    expect(r.stderr).not.toContain('s3cr3t-uplink-value');

    const rb = events(root, 'bundle.rolled_back').at(-1);
    // stdout and stderr are two pipes: the order of their lines is not fixed, each line is there.
    expect(rb?.reason).toMatch(/health gate failed: health check \.\/health\.sh of app gamma exited with 3: /);
    for (const line of ['probing the database', 'UPLINK_TOKEN=[REDACTED]', 'error: database unreachable at 10.0.0.5:5432']) expect(rb?.reason).toContain(line);
    expect(rb?.data).toMatchObject({ exit_code: 3, output_truncated: false });
    expect(String(rb?.data.output)).toContain('error: database unreachable');
    expect(JSON.stringify(rb)).not.toContain('s3cr3t-uplink-value');
  }, 60_000);
});
