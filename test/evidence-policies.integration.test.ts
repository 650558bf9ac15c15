import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extract as extractTar } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../daemon/bundles/index.js';
import { systemClock } from '../daemon/core/index.js';
import { makeKey, trustKey } from './helpers/bundles.js';
import { cli, removeRoot, waitFor } from './helpers/daemon.js';
import { daemonFixture } from './helpers/fixture.js';

const fixture = daemonFixture('waveos-evidence-policies-');
const scratch = mkdtempSync(join(tmpdir(), 'waveos-evidence-policies-site-'));
afterAll(() => removeRoot(scratch));

const SITE = `policy_version: "s.1"
rules:
  - id: site-rate
    kind: rate_limit
    flow: log.lines
    limit: 100000
    per: 1s
    burst: 100000
`;

const FLEET = SITE.replace('"s.1"', '"f.1"').replace('site-rate', 'fleet-rate');

interface IndexEntry {
  path: string;
  source: string;
  origin: string;
  in_force: boolean;
}

async function exportPack(root: string, out: string): Promise<string> {
  const r = cli(['evidence', 'export', '--since', '5m', '--reason', 'policy check', '--out', out, '--json', '--root', root]);
  expect(r.code, r.stderr).toBe(0);
  const dir = mkdtempSync(join(root, 'unpacked-'));
  await extractTar({ file: out, cwd: dir });
  expect(cli(['evidence', 'verify', out]).code).toBe(0);
  return dir;
}

describe('the policy files of an evidence pack', () => {
  it('holds every policy file in force under the folder it came from, and the refused ones apart', async () => {
    const site = join(scratch, 'site-policies');
    mkdirSync(site, { recursive: true });
    writeFileSync(join(site, 'site.yaml'), SITE);
    // The examples' budget rules name the service leaker: one by that name lets them pass the device check.
    const leaker = { name: 'leaker', command: '/bin/sleep', args: ['600'] };
    const { root } = await fixture.start({ services: [leaker], telemetry: { prometheus: { enabled: false } }, policy: { examples: true, extra_dirs: [site] } });
    // A signed policy bundle: its file is in force from its slot.
    const k = makeKey(join(root, 'keys'));
    trustKey(root, k);
    const fleet = join(scratch, 'fleet');
    mkdirSync(fleet, { recursive: true });
    writeFileSync(join(fleet, 'fleet.yaml'), FLEET);
    await buildBundle({ dir: fleet, kind: 'policy', name: 'fleet-rules', version: '1.0.0', key: k.key, out: join(root, 'fleet.bundle'), clock: systemClock, policyVersion: 'f.1' });
    const inst = cli(['bundle', 'install', join(root, 'fleet.bundle'), '--root', root]);
    expect(inst.code, inst.stderr).toBe(0);
    const broken = join(root, 'etc/waveos/policies.d/broken.yaml');
    writeFileSync(broken, 'policy_version: 1\nrules: [ {id: x, kind: nope} ]\n');
    await waitFor('broken.yaml refused', () => (JSON.parse(cli(['status', '--json', '--root', root]).stdout) as { policy_rejected: { file: string }[] }).policy_rejected.find((f) => f.file === broken));

    const dir = await exportPack(root, join(root, 'pack.tar.gz'));
    const index = JSON.parse(readFileSync(join(dir, 'config/policies/index.json'), 'utf8')) as IndexEntry[];
    const byPath = new Map(index.map((e) => [e.path, e]));

    // policy.extra_dirs: under extra/<the folder>, byte for byte.
    const sitePath = `config/policies/extra/${site.replace(/^\/+/, '')}/site.yaml`;
    expect(byPath.get(sitePath)).toEqual({ path: sitePath, source: join(site, 'site.yaml'), origin: 'policy.extra_dirs', in_force: true });
    expect(readFileSync(join(dir, sitePath), 'utf8')).toBe(SITE);
    // The repo's examples the dev profile runs: under examples/.
    const breaker = byPath.get('config/policies/examples/crash-breaker.yaml');
    expect(breaker).toMatchObject({ origin: 'examples', in_force: true });
    expect(readFileSync(join(dir, 'config/policies/examples/crash-breaker.yaml'), 'utf8')).toContain('id: crash-breaker');
    // A policy bundle's file: under bundles/<its name>.
    expect(byPath.get('config/policies/bundles/fleet-rules/fleet.yaml')).toMatchObject({ origin: 'policy bundle', in_force: true });
    expect(readFileSync(join(dir, 'config/policies/bundles/fleet-rules/fleet.yaml'), 'utf8')).toBe(FLEET);
    // A refused file is there to read, marked as not in force.
    expect(byPath.get('config/policies/not-in-force/broken.yaml')).toEqual({ path: 'config/policies/not-in-force/broken.yaml', source: broken, origin: 'policies.d', in_force: false });

    // Every file of the policy in force is in the pack.
    const status = JSON.parse(cli(['status', '--json', '--root', root]).stdout) as { versions: { policy: string } };
    const inForce = index.filter((e) => e.in_force).map((e) => e.path.split('/').at(-1)?.replace(/\.ya?ml$/, ''));
    for (const part of status.versions.policy.split(',')) expect(inForce).toContain(part.split('@')[0]);
    const manifest = JSON.parse(readFileSync(join(dir, 'MANIFEST.json'), 'utf8')) as { files: { path: string }[] };
    for (const e of index) expect(manifest.files.map((f) => f.path)).toContain(e.path);
  }, 60_000);
});

describe('an on-demand export', () => {
  it('holds the samples taken up to the request, also those still buffered in memory', async () => {
    // Samples are written to the journal every 10 minutes only: everything of this test is still in memory.
    const { root } = await fixture.start({ services: [], telemetry: { prometheus: { enabled: false }, sample_interval: '200ms', flush_interval: '10m' } });
    const t0 = new Date().toISOString();
    await waitFor('a sample after the start', () => {
      const r = cli(['metrics', '--json', '--root', root]);
      const m = (JSON.parse(r.stdout) as { metrics: { ts: string }[] }).metrics;
      return m.some((x) => x.ts > t0) ? true : undefined;
    });
    const dir = await exportPack(root, join(root, 'pack.tar.gz'));
    const rows = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n').slice(1);
    const after = rows.filter((l) => (l.split(',')[0] ?? '') > t0);
    expect(after.length).toBeGreaterThan(0);
  }, 60_000);
});
