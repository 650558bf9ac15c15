import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildBundle } from '../daemon/bundles/index.js';
import { systemClock } from '../daemon/core/index.js';
import { bundleRig, events } from './helpers/bundle-rig.js';
import { craftBundle, craftTree, currentSlotIntact, folder, hashTree, link, member } from './helpers/bundles.js';
import { cli } from './helpers/daemon.js';

const { setup, start } = bundleRig({ prefix: 'waveos-bundles-tree-', config: 'schema_version: 2\nbundles:\n  trial: 300ms\n  inbox_stable: 200ms\n' });

const rule = (kind: string): string =>
  `policy_version: "7"\nrules:\n  - id: fleet-disk\n    kind: ${kind}\n    metric: filesystem_used_ratio\n    op: ">"\n    value: 0.9\n    actions:\n      - { type: emit_event, severity: warning, kind: policy.disk_low, message: nearly full }\n`;

interface Rejected {
  reason: string;
  data: { check: string; bundle_kind: string | null };
}

describe('bundles are judged only by what the signature covers (through the daemon)', () => {
  it('refuses the link chain, unlisted folders, gzip, a bad policy, a policy with waveos.yaml; then a valid bundle installs', async () => {
    const { root, work, k } = setup();
    const d = await start(root);
    const depth = 30;
    const dirs = Array.from({ length: depth }, (_, i) => Array.from({ length: i + 1 }, (__, j) => `d${j}`).join('/'));
    const deep = dirs.at(-1) as string;
    const policyDir = (name: string, files: Record<string, string>): string => {
      const p = join(work, name);
      mkdirSync(p);
      for (const [f, text] of Object.entries(files)) writeFileSync(join(p, f), text);
      return p;
    };
    const policy = (dir: string, out: string, version: string) => buildBundle({ dir, kind: 'policy', name: 'fleet', version, key: k.key, out, clock: systemClock });
    const cases: { name: string; check: string; reason: RegExp; make: (f: string) => Promise<unknown> }[] = [
      {
        name: 'link chain',
        check: 'path.symlink_escape',
        reason: /symlink payload\/passwd → d0\/.*does not resolve inside the payload: it climbs above the payload/,
        make: (f) => craftTree(k, f, [...dirs.map((p) => folder(p)), link(`${deep}/s`, '../'.repeat(depth)), link('passwd', `${deep}/s/${'../'.repeat(depth - 1)}etc/passwd`), member('a.txt', 'a')], { kind: 'certs', name: 'chain' }),
      },
      {
        name: '3000 unlisted folders',
        check: 'file.extra',
        reason: /member payload\/d0\/ \(a folder\) is not listed in the manifest/,
        make: (f) => craftBundle(k, f, [member('a.txt', 'a').entry], [member('a.txt', 'a').tar, ...Array.from({ length: 3000 }, (_, i) => folder(`d${i}`).tar)], { schema_version: 2, kind: 'certs', name: 'dirs' }),
      },
      {
        name: 'gzip',
        check: 'format.compressed',
        reason: /is gzip-compressed; a bundle is a plain \(uncompressed\) tar/,
        make: async (f) => {
          await policy(policyDir('gz', { 'rules.yaml': rule('threshold') }), `${f}.tar`, '1.0.0');
          writeFileSync(f, gzipSync(readFileSync(`${f}.tar`)));
        },
      },
      {
        name: 'policy kind nonsense',
        check: 'content.policy',
        reason: /payload\/rules\.yaml is not a valid policy: payload\/rules\.yaml:4:\d+/,
        make: (f) => policy(policyDir('nonsense', { 'rules.yaml': rule('nonsense') }), f, '1.0.0'),
      },
      {
        name: 'policy with waveos.yaml',
        check: 'content.policy',
        reason: /payload\/waveos\.yaml is a WaveOS config file; a policy bundle carries only policy files/,
        make: (f) => policy(policyDir('with-config', { 'rules.yaml': rule('threshold'), 'waveos.yaml': 'schema_version: 2\n' }), f, '1.0.0'),
      },
    ];
    const slots = join(root, 'var/lib/waveos/slots');
    const before = hashTree(slots);
    const policyBefore = (JSON.parse(cli(['status', '--root', root, '--json']).stdout) as { versions: { policy: string } }).versions.policy;
    for (const c of cases) {
      const file = join(work, `${c.name.replace(/\W+/g, '-')}.wbundle`);
      await c.make(file);
      const r = cli(['bundle', 'install', file, '--root', root]);
      expect({ name: c.name, code: r.code }).toEqual({ name: c.name, code: 5 });
      expect(hashTree(slots)).toBe(before); // nothing staged, nothing activated
      // Offline verification gives the same verdict, content checks included.
      const v = cli(['bundle', 'verify', file, '--root', root]);
      expect({ name: c.name, code: v.code, check: v.stderr.includes(c.check.startsWith('content') ? 'WAVEOS_E_BUNDLE_CONTENT' : 'WAVEOS_E_BUNDLE_') }).toEqual({ name: c.name, code: 5, check: true });
    }
    const rejected = events<Rejected>(root, 'bundle.rejected');
    expect(rejected.map((e) => e.data.check)).toEqual(cases.map((c) => c.check));
    cases.forEach((c, i) => expect({ name: c.name, reason: rejected[i]?.reason }).toEqual({ name: c.name, reason: expect.stringMatching(c.reason) }));
    expect(events(root, 'bundle.staged')).toHaveLength(0);
    expect(events(root, 'bundle.activated')).toHaveLength(0);

    // A valid policy bundle still installs, and the policy runtime takes it.
    const good = join(work, 'good.wbundle');
    const m = await policy(policyDir('good', { 'rules.yaml': rule('threshold') }), good, '1.0.0');
    const r = cli(['bundle', 'install', good, '--root', root]);
    expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: '' });
    expect(currentSlotIntact(root, 'policy', 'fleet')?.bundle_id).toBe(m.bundle_id);
    const policyAfter = (JSON.parse(cli(['status', '--root', root, '--json']).stdout) as { versions: { policy: string } }).versions.policy;
    expect(policyAfter).not.toBe(policyBefore);
    expect(policyAfter).toContain('rules@7');
    expect(d.proc.exitCode).toBeNull();
  }, 150_000);

  it('an unparsable *.pub in etc/waveos/keys is skipped with an event; the trusted key still verifies', async () => {
    const { root, work, k } = setup();
    writeFileSync(join(root, 'etc/waveos/keys/broken.pub'), 'this is not a key\n');
    await start(root);
    const dir = join(work, 'ca');
    mkdirSync(join(dir, 'ca'), { recursive: true });
    writeFileSync(join(dir, 'ca/root.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const m = await buildBundle({ dir, kind: 'certs', name: 'fleet', version: '1.0.0', key: k.key, out: join(work, 'ca.wbundle'), clock: systemClock });
    const r = cli(['bundle', 'install', join(work, 'ca.wbundle'), '--root', root]);
    expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: '' });
    expect(currentSlotIntact(root, 'certs', 'fleet')?.bundle_id).toBe(m.bundle_id);
    const skipped = events<{ reason: string; data: { file: string } }>(root, 'bundle.key_skipped');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]?.data.file).toMatch(/etc\/waveos\/keys\/broken\.pub$/);
    expect(skipped[0]?.reason).toMatch(/ignored the key file broken\.pub: .*not a WaveOS key file/);
    // Offline verification skips it too.
    expect(cli(['bundle', 'verify', join(work, 'ca.wbundle'), '--root', root]).code).toBe(0);
  }, 60_000);
});
