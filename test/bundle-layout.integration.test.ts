import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiCall } from '../daemon/api/client.js';
import { pathsFor } from '../daemon/core/paths.js';
import { REPO, removeRoot, sleep, tempRoot } from './helpers/daemon.js';

// What a release ships (docs/footprint.md, "The bundle"): bin/, dist/bundle/ and the native modules with their
// run-time dependencies, nothing else of the repo. The daemon, the CLI and an evidence export (the report
// page embeds the chart library from dist/bundle/assets/) must work from exactly that.
const NATIVE_RUNTIME = ['better-sqlite3', 'unix-dgram', 'bindings', 'file-uri-to-path'];

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeRoot));

describe('the bundle on its own', () => {
  it('runs the daemon and the CLI from bin/, dist/bundle/ and the native modules alone', async () => {
    const base = tempRoot('waveos-layout-');
    dirs.push(base);
    const tree = join(base, 'tree');
    mkdirSync(join(tree, 'dist'), { recursive: true });
    cpSync(join(REPO, 'bin'), join(tree, 'bin'), { recursive: true });
    cpSync(join(REPO, 'dist/bundle'), join(tree, 'dist/bundle'), { recursive: true, filter: (f) => !f.endsWith('.map') });
    for (const m of NATIVE_RUNTIME) cpSync(join(REPO, 'node_modules', m), join(tree, 'node_modules', m), { recursive: true, dereference: true });
    const root = join(base, 'root');
    mkdirSync(join(root, 'etc/waveos'), { recursive: true });
    writeFileSync(join(root, 'etc/waveos/waveos.yaml'), 'schema_version: 2\nprofile: prod\npolicy: { examples: true }\n');
    const bin = join(tree, 'bin/waveos.js');
    const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args, '--root', root], { encoding: 'utf8', cwd: base, timeout: 60_000 });

    expect(run(['--version']).stdout).toMatch(/^waveos \d+\.\d+\.\d+/);
    const d = spawn(process.execPath, [bin, 'run', '--root', root], { cwd: base, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    d.stdout.on('data', (c: Buffer) => (out += c.toString()));
    d.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => d.on('exit', (c) => r(c)));
    try {
      for (let i = 0; ; i++) {
        const r = await apiCall({ socketPath: pathsFor(root).adminSocket, timeoutMs: 5_000 }, 'GET', '/v1/status').catch(() => undefined);
        if (r?.status === 200) break;
        if (i > 600 || d.exitCode !== null) throw new Error(`the bundled daemon did not answer: ${out}`);
        await sleep(100);
      }
      const status = run(['status', '--json']);
      expect(status.status, status.stderr).toBe(0);
      // the example policies are read from dist/bundle/policies/ (and refused here: they name services this root lacks)
      const policy = run(['events', '--kind', 'policy', '--json']);
      expect(policy.stdout).toContain(`${tree}/dist/bundle/policies/leaker-budget.yaml`);
      const pack = join(base, 'pack.tar.gz');
      const exp = run(['evidence', 'export', '--since', '5m', '--reason', 'bundle layout', '--out', pack]);
      expect(exp.status, exp.stderr).toBe(0);
      const list = spawnSync('tar', ['-xzOf', pack, '--wildcards', '*report.html'], { encoding: 'utf8', maxBuffer: 64 << 20 });
      expect(list.status, list.stderr).toBe(0);
      expect(list.stdout).toContain('uPlot');
      const verify = run(['evidence', 'verify', pack]);
      expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    } finally {
      d.kill('SIGTERM');
    }
    expect(await exited).toBe(143);
    expect(readFileSync(join(root, 'var/lib/waveos/device.pub'), 'utf8')).toMatch(/\S/);
  });
});
