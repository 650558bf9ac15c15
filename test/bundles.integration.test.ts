import { existsSync, readFileSync, renameSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alive, appVersion, bundleRig, events } from './helpers/bundle-rig.js';
import { appDir, buildApp, craftBundle, currentSlotIntact, hashTree, makeKey, member, patchFile } from './helpers/bundles.js';
import { cli, waitFor } from './helpers/daemon.js';

const { setup, start } = bundleRig({ prefix: 'waveos-bundles-', config: 'schema_version: 2\nbundles:\n  trial: 300ms\n  inbox_stable: 200ms\n' });

describe('bundle rejections through the daemon', () => {
  it('each rejection exits 5, journals a precise bundle.rejected event, and changes nothing in the slots', async () => {
    const { root, work, k } = setup('  max_bytes: 64KiB\n');
    const d = await start(root);
    const v2 = await buildApp(k, appDir(work, 'demo', '2.0.0'), join(work, 'v2.bundle'), '2.0.0');
    expect(cli(['bundle', 'install', join(work, 'v2.bundle'), '--root', root]).code).toBe(0);
    await buildApp(k, appDir(work, 'demo', '1.0.0'), join(work, 'v1.bundle'), '1.0.0');

    const good = member('a.txt', 'hello');
    const other = makeKey(join(work, 'other'));
    const cases: { name: string; check: string; make: (f: string) => Promise<unknown> }[] = [
      { name: 'wrong key', check: 'signature.unknown_key', make: (f) => buildApp(other, appDir(work, 'demo', '3.0.0'), f, '3.0.0') },
      {
        name: 'tampered payload byte',
        check: 'hash.sha256',
        make: async (f) => {
          await craftBundle(k, f, [good.entry], [good.tar]);
          patchFile(f, 'hello', 'hellp');
        },
      },
      {
        name: 'tampered manifest',
        check: 'signature.invalid',
        make: async (f) => {
          await craftBundle(k, f, [good.entry], [good.tar]);
          patchFile(f, '"9.0.0"', '"9.9.9"');
        },
      },
      { name: 'missing file', check: 'file.missing', make: (f) => craftBundle(k, f, [good.entry, member('b.txt', 'b').entry], [good.tar]) },
      { name: 'extra file', check: 'file.extra', make: (f) => craftBundle(k, f, [good.entry], [good.tar, member('b.txt', 'b').tar]) },
      { name: '../ path', check: 'path.dotdot', make: (f) => craftBundle(k, f, [good.entry], [good.tar, { type: 'File', path: 'payload/../../../etc/evil', bytes: Buffer.from('x') }]) },
      { name: 'absolute path', check: 'path.absolute', make: (f) => craftBundle(k, f, [good.entry], [good.tar, { type: 'File', path: '/tmp/evil', bytes: Buffer.from('x') }]) },
      {
        name: 'symlink escaping the slot',
        check: 'path.symlink_escape',
        make: (f) => craftBundle(k, f, [good.entry, { type: 'symlink', path: 'etc', target: '../../../../../../etc' }], [good.tar, { type: 'SymbolicLink', path: 'payload/etc', linkpath: '../../../../../../etc' }]),
      },
      { name: 'hard link', check: 'entry.hardlink', make: (f) => craftBundle(k, f, [good.entry], [good.tar, { type: 'Link', path: 'payload/h', linkpath: '/etc/passwd' }]) },
      { name: 'device node', check: 'entry.device', make: (f) => craftBundle(k, f, [good.entry], [good.tar, { type: 'BlockDevice', path: 'payload/sda', devmaj: 8, devmin: 0 }]) },
      { name: 'oversize', check: 'limit.size', make: (f) => buildApp(k, appDir(work, 'demo', '4.0.0', { extraBytes: 100 * 1024 }), f, '4.0.0') },
      { name: 'expired', check: 'expired', make: (f) => buildApp(k, appDir(work, 'demo', '5.0.0'), f, '5.0.0', { expiresInMs: -60_000 }) },
      { name: 'downgrade', check: 'version.downgrade', make: async (f) => copyFileSync(join(work, 'v1.bundle'), f) },
      { name: 'replay of the installed version', check: 'version.replay', make: async (f) => copyFileSync(join(work, 'v2.bundle'), f) },
      { name: 'same version, different build', check: 'version.replay', make: (f) => buildApp(k, appDir(work, 'demo', '2.0.0', { extraBytes: 10 }), f, '2.0.0') },
    ];

    const slots = join(root, 'var/lib/waveos/slots');
    const before = hashTree(slots);
    const running = appVersion(root);
    expect(running?.version).toBe('2.0.0');
    for (const c of cases) {
      const file = join(work, `${c.name.replace(/\W+/g, '-')}.bundle`);
      await c.make(file);
      const r = cli(['bundle', 'install', file, '--root', root]);
      expect({ name: c.name, code: r.code }).toEqual({ name: c.name, code: 5 });
      expect(r.stderr).toMatch(/WAVEOS_E_BUNDLE_/);
      expect(hashTree(slots)).toBe(before);
      expect(existsSync(file)).toBe(true); // the operator's file is left alone
    }
    // One bundle.rejected event per case, in order, each naming its check and saying why in words.
    const rejected = events(root, 'bundle.rejected') as { data: { check: string }; reason: string }[];
    expect(rejected.map((e) => e.data.check)).toEqual(cases.map((c) => c.check));
    for (const e of rejected) expect(e.reason).toMatch(/^rejected bundle .+: .{20,}/);
    // The same verdicts offline, where no daemon state is involved (not downgrade/replay: those need the board).
    for (const c of cases.slice(0, 10)) {
      const file = join(work, `${c.name.replace(/\W+/g, '-')}.bundle`);
      expect({ name: c.name, code: cli(['bundle', 'verify', file, '--root', root]).code }).toEqual({ name: c.name, code: 5 });
    }
    expect(cli(['bundle', 'verify', join(work, 'v2.bundle'), '--root', root]).code).toBe(0);
    // Nothing was restarted: the app from before is the one running.
    expect(appVersion(root)).toEqual(running);
    expect(alive(running?.pid ?? -1)).toBe(true);
    const list = JSON.parse(cli(['bundle', 'list', '--root', root, '--json']).stdout) as { installed: { current: string }[]; history: unknown[] };
    expect(list.installed[0]?.current).toBe(v2.bundle_id);
    expect(list.history.length).toBe(cases.length + 1);
    expect(d.proc.exitCode).toBeNull();
  }, 150_000);

  it('the inbox takes a complete file, installs it, and moves a rejected one aside', async () => {
    const { root, work, k } = setup();
    await start(root);
    const inbox = join(root, 'var/lib/waveos/inbox');
    const m = await buildApp(k, appDir(work, 'demo', '1.0.0'), join(work, 'v1.bundle'), '1.0.0');
    // Written under .part, then renamed: the watcher sees only the finished file.
    copyFileSync(join(work, 'v1.bundle'), join(inbox, 'v1.bundle.part'));
    renameSync(join(inbox, 'v1.bundle.part'), join(inbox, 'v1.bundle'));
    await waitFor('the inbox bundle to commit', () => (events(root, 'bundle.committed').length === 1 ? true : undefined), 30_000, 200);
    expect(currentSlotIntact(root, 'app', 'demo')?.bundle_id).toBe(m.bundle_id);
    expect(existsSync(join(inbox, 'v1.bundle'))).toBe(false);
    await waitFor('the app to run 1.0.0', () => (appVersion(root)?.version === '1.0.0' ? true : undefined));

    const other = makeKey(join(work, 'other'));
    await buildApp(other, appDir(work, 'demo', '2.0.0'), join(inbox, 'evil.bundle'), '2.0.0');
    await waitFor('the rejection', () => (events(root, 'bundle.rejected').length === 1 ? true : undefined), 30_000, 200);
    expect(existsSync(join(inbox, 'rejected/evil.bundle'))).toBe(true);
    expect(existsSync(join(inbox, 'evil.bundle'))).toBe(false);

    // Versions are in status and in run_meta.json.
    const status = JSON.parse(cli(['status', '--root', root, '--json']).stdout) as { versions: { bundles: Record<string, string> } };
    expect(status.versions.bundles.app).toBe(m.bundle_id);
    await waitFor('run_meta to name the bundle', () => {
      const meta = JSON.parse(readFileSync(join(root, 'var/lib/waveos/artifacts/latest/run_meta.json'), 'utf8')) as { bundle_ids: Record<string, string> };
      return meta.bundle_ids.app === m.bundle_id ? true : undefined;
    });
  });
});

