import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, cli, removeRoot, tempRoot } from './helpers/daemon.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) removeRoot(r);
});

function* filesUnder(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* filesUnder(p);
    else if (e.isFile()) yield p;
  }
}

describe('secrets', () => {
  it('a canary secret from the environment and from a file appears in no file under the root after a run', async () => {
    const root = tempRoot();
    roots.push(root);
    const canaryEnv = 'CANARY-env-7f3c9a1e5b';
    const canaryFile = 'CANARY-file-2d8e4b6a0c';
    writeFileSync(join(root, 'pw.txt'), canaryFile);
    const cfg = join(root, 'waveos.yaml');
    writeFileSync(cfg, `schema_version: 2\nsecrets:\n  uplink.token: {env: WAVEOS_TEST_UPLINK_TOKEN}\n  webhook: {file: ${join(root, 'pw.txt')}}\n`);
    const d = new DaemonProcess(root, ['--config', cfg], { WAVEOS_TEST_UPLINK_TOKEN: canaryEnv });
    await d.ready();
    expect((await d.kill('SIGTERM')).code).toBe(143);
    expect(d.output).toMatch(/2 secret\(s\) loaded/);
    expect(d.output).not.toContain(canaryEnv);
    expect(d.output).not.toContain(canaryFile);
    let checked = 0;
    for (const f of filesUnder(root)) {
      if (f.endsWith('pw.txt') || statSync(f).size > 50_000_000) continue;
      const text = readFileSync(f).toString('latin1');
      expect(text, f).not.toContain(canaryEnv);
      expect(text, f).not.toContain(canaryFile);
      checked++;
    }
    expect(checked).toBeGreaterThan(5);
  });

  it('an evidence pack holds no secret value, even from a variable whose name does not look secret', async () => {
    const root = tempRoot();
    roots.push(root);
    const canary = 'CANARY-plainname-91b4e2c7d3';
    const cfg = join(root, 'waveos.yaml');
    writeFileSync(cfg, 'schema_version: 2\nsecrets:\n  uplink.key: {env: WAVEOS_TEST_UPLINK_KEY}\n');
    const d = new DaemonProcess(root, ['--config', cfg], { WAVEOS_TEST_UPLINK_KEY: canary });
    await d.ready();
    const x = cli(['evidence', 'export', '--since', '5m', '--json', '--root', root]);
    expect(x.code, x.stderr).toBe(0);
    const pack = (JSON.parse(x.stdout) as { file: string }).file;
    await d.kill('SIGTERM');
    // The pack is a gzip'd tar: its members' bytes stand as they are in the unpacked stream.
    const tar = gunzipSync(readFileSync(pack)).toString('latin1');
    expect(tar).toContain('system.json');
    expect(tar).toContain('WAVEOS_TEST_UPLINK_KEY');
    expect(tar).not.toContain(canary);
  });

  it('a secret that cannot be read stops the start with a located message (exit 2)', async () => {
    const root = tempRoot();
    roots.push(root);
    const cfg = join(root, 'waveos.yaml');
    writeFileSync(cfg, 'schema_version: 2\nsecrets:\n  db: {env: WAVEOS_TEST_NOT_SET}\n');
    const d = new DaemonProcess(root, ['--config', cfg]);
    expect((await d.exit).code).toBe(2);
    expect(d.output).toMatch(/secrets\.db: cannot read secret "db": environment variable WAVEOS_TEST_NOT_SET is not set/);
    expect(cli(['config', 'validate', cfg]).code).toBe(0);
  });
});
