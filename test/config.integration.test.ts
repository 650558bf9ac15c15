import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, cli, removeRoot, tempRoot } from './helpers/daemon.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) removeRoot(r);
});

const CASES: { name: string; text: string | null; where: RegExp; expected: RegExp }[] = [
  { name: 'unknown key', text: 'schema_version: 2\nno_such_key: true\n', where: /bad\.yaml:2:1/, expected: /unknown key "no_such_key".*expected one of/ },
  { name: 'wrong type', text: 'schema_version: 2\njournal:\n  batch_max: lots\n', where: /bad\.yaml:3:14/, expected: /journal\.batch_max: .*expected number/ },
  { name: 'bad duration', text: 'schema_version: 2\nartifacts:\n  flush_interval: soon\n', where: /bad\.yaml:3:19/, expected: /expected a duration/ },
  { name: 'YAML syntax error', text: 'schema_version: 2\ndevice: {device_id: a\n', where: /bad\.yaml:\d+:\d+/, expected: /YAML syntax error/ },
  { name: 'newer schema_version', text: 'schema_version: 9\n', where: /bad\.yaml:1:17/, expected: /newer than this WaveOS supports \(2\)/ },
  { name: 'missing schema_version', text: 'device:\n  device_id: a\n', where: /bad\.yaml:1:1/, expected: /schema_version is missing/ },
  { name: 'missing file', text: null, where: /bad\.yaml/, expected: /no such file/ },
];

describe('invalid configs', () => {
  for (const c of CASES) {
    it(`${c.name}: validate exits 2 with a located message, and the daemon refuses to start`, async () => {
      const root = tempRoot();
      roots.push(root);
      const file = join(root, 'bad.yaml');
      if (c.text !== null) writeFileSync(file, c.text);
      const v = cli(['config', 'validate', file]);
      expect(v.code).toBe(2);
      expect(v.stderr).toMatch(c.where);
      expect(v.stderr).toMatch(c.expected);

      const d = new DaemonProcess(root, ['--config', file]);
      const exit = await d.exit;
      expect(exit.code).toBe(2);
      expect(d.output).toMatch(c.where);
      // Refused before touching state: no journal was created.
      expect(existsSync(join(root, 'var/lib/waveos/waveos.db'))).toBe(false);
    });
  }

  it('an older schema_version is migrated in memory and reported', async () => {
    const root = tempRoot();
    roots.push(root);
    const file = join(root, 'old.yaml');
    writeFileSync(file, 'schema_version: 1\ndevice_id: board-7\nartifacts:\n  flush_interval_s: 2\n');
    const v = cli(['config', 'validate', file]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/migrated in memory to 2/);
    const d = new DaemonProcess(root, ['--config', file]);
    const status = await d.ready();
    expect(status.device_id).toBe('board-7');
    expect((await d.kill('SIGTERM')).code).toBe(143);
    const events = JSON.parse(cli(['events', '--json', '--kind', 'config.', '--root', root]).stdout) as { kind: string; data: Record<string, unknown> }[];
    expect(events.map((e) => e.kind)).toEqual(['config.migrated']);
  });

  it('a changed config between runs emits config.changed', async () => {
    const root = tempRoot();
    roots.push(root);
    const file = join(root, 'c.yaml');
    writeFileSync(file, 'schema_version: 2\ndevice:\n  device_id: a1\n');
    let d = new DaemonProcess(root, ['--config', file]);
    await d.ready();
    expect((await d.kill('SIGTERM')).code).toBe(143);
    writeFileSync(file, 'schema_version: 2\ndevice:\n  device_id: a2\n');
    d = new DaemonProcess(root, ['--config', file]);
    await d.ready();
    expect((await d.kill('SIGTERM')).code).toBe(143);
    const events = JSON.parse(cli(['events', '--json', '--kind', 'config.changed', '--root', root]).stdout) as { data: { from: string; to: string } }[];
    expect(events).toHaveLength(1);
    expect(events[0]?.data.from).not.toBe(events[0]?.data.to);
  });
});
