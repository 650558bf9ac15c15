import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../daemon/cli/main.js';
import { cli, waitFor } from './helpers/daemon.js';
import { daemonFixture } from './helpers/fixture.js';
import { events, example, services } from './helpers/services.js';

const fixture = daemonFixture('waveos-help-');

/** Arguments that would change the device if the command ran: help must win over all of them. */
const REAL_ARGS: Record<string, string[]> = {
  'service start': ['healthy'],
  'service stop': ['healthy'],
  'service restart': ['healthy', '--reason', 'x'],
  'mode set': ['safe', '--reason', 'x'],
  'token create': ['intruder', '--role', 'admin'],
  'token revoke': ['intruder'],
  'evidence export': ['--reason', 'x'],
  'bundle install': ['/nonexistent.bundle'],
  'bundle rollback': ['--kind', 'app'],
  'bundle keygen': ['--out', '/tmp/waveos-help-keys'],
};

describe('--help on every command and subcommand', () => {
  it('prints the usage and exit codes, exits 0, and changes nothing', async () => {
    const { root } = await fixture.start({ services: [example('healthy', 'healthy.mjs')] });
    const pid = await waitFor('healthy running', () => services(root)[0]?.pid ?? undefined);
    const before = events(root).map((e) => e.seq);
    const runFolders = readdirSync(join(root, 'var/lib/waveos/artifacts')).length;
    const invocations: string[][] = [];
    for (const [cmd, subs] of Object.entries(COMMANDS)) {
      invocations.push([cmd]);
      for (const sub of subs) invocations.push([cmd, sub, ...(REAL_ARGS[`${cmd} ${sub}`] ?? [])]);
    }
    for (const args of invocations) {
      for (const flag of ['--help', '-h']) {
        const r = cli([...args, flag, '--root', root]);
        expect(r.code, `${args.join(' ')} ${flag}: ${r.stderr}`).toBe(0);
        expect(r.stdout, `${args.join(' ')} ${flag}`).toMatch(new RegExp(`waveos ${args[0]}[\\s\\S]*Exit codes: 0 ok`));
      }
    }
    expect(invocations.length).toBeGreaterThan(25);
    expect(events(root).map((e) => e.seq)).toEqual(before);
    expect(services(root)[0]?.pid).toBe(pid);
    expect(readdirSync(join(root, 'var/lib/waveos/artifacts')).length).toBe(runFolders);
    expect(existsSync('/tmp/waveos-help-keys')).toBe(false);
  });

  it('says the version, suggests the nearest command, and reports failures as JSON with --json', () => {
    expect(cli(['--version'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^waveos \d+\.\d+\.\d+/) });
    const typo = cli(['stauts']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown command "stauts"; did you mean "status"\?/);
    const down = cli(['status', '--json', '--root', '/nonexistent-root']);
    expect(down.code).toBe(3);
    expect(JSON.parse(down.stderr)).toMatchObject({ error: { code: 'WAVEOS_E_DAEMON_UNREACHABLE', message: expect.any(String) } });
    const bad = cli(['config', 'validate', '/nonexistent.yaml', '--json']);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stderr).error.code).toMatch(/^WAVEOS_E_/);
    const out = cli(['policy', 'schema', '--out', '/nonexistent-dir/x.json']);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/\/nonexistent-dir\/x\.json: no such file or directory/);
    expect(out.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it('ends quietly when the reader of its output goes away (events | head -1)', async () => {
    const { root } = await fixture.start({ services: [example('healthy', 'healthy.mjs')] });
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync('sh', ['-c', `node ${join(import.meta.dirname, '../bin/waveos.js')} events --root ${root} | head -1`], { encoding: 'utf8' });
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).not.toMatch(/EPIPE|Error/);
  });
});

describe('events like journalctl', () => {
  it('-n shows the newest N, --reverse turns them, --follow starts at the end', async () => {
    const { root } = await fixture.start({ services: [example('healthy', 'healthy.mjs')] });
    await waitFor('healthy running', () => services(root)[0]?.pid ?? undefined);
    const all = events(root);
    const newest = JSON.parse(cli(['events', '-n', '2', '--json', '--root', root]).stdout) as { seq: number }[];
    expect(newest.map((e) => e.seq)).toEqual(all.slice(-2).map((e) => e.seq));
    const reversed = JSON.parse(cli(['events', '--lines', '3', '--reverse', '--json', '--root', root]).stdout) as { seq: number }[];
    expect(reversed.map((e) => e.seq)).toEqual(all.slice(-3).map((e) => e.seq).reverse());
    const short = cli(['events', '-n', '1', '-o', 'short', '--root', root]).stdout.trim();
    expect(short).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d #${all.at(-1)?.seq} `));

    const { spawn } = await import('node:child_process');
    const f = spawn(process.execPath, [join(import.meta.dirname, '../bin/waveos.js'), 'events', '--follow', '--json', '--root', root]);
    let out = '';
    f.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await new Promise((r) => setTimeout(r, 1500));
      expect(out).toBe('');
      expect(cli(['mode', 'set', 'degraded', '--reason', 'follow test', '--root', root]).code).toBe(0);
      const seen = await waitFor('the new event in --follow', () => (out.includes('"mode.changed"') ? out : undefined), 15_000, 100);
      const seqs = seen.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
      expect(Math.min(...seqs)).toBeGreaterThan(all.at(-1)?.seq ?? 0);
    } finally {
      f.kill('SIGINT');
    }
  });
});
