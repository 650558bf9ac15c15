import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { INPUT_LIMITS } from '../daemon/core/index.js';
import { DaemonProcess, cli, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';

const roots: string[] = [];
const daemons: DaemonProcess[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) if (d.proc.exitCode === null && d.proc.signalCode === null) await d.kill('SIGKILL');
  for (const r of roots.splice(0)) removeRoot(r);
});

interface Ev {
  kind: string;
  reason: string;
  data: Record<string, unknown>;
}

function events(root: string, kind: string): Ev[] {
  const r = cli(['events', '--json', '--kind', kind, '--root', root]);
  return r.code === 0 ? (JSON.parse(r.stdout) as Ev[]) : [];
}

const POLICY = (v: number): string => `policy_version: ${v}\nrules:\n  - id: site-${v}\n    kind: threshold\n    metric: temperature_celsius\n    op: ">"\n    value: 80\n    actions: [{ type: emit_event }]\n`;

function setup(): { root: string; dir: string; extra: string } {
  const root = tempRoot('waveos-inputs-');
  roots.push(root);
  const dir = join(root, 'etc/waveos/policies.d');
  const extra = join(root, 'extra-policies');
  mkdirSync(dir, { recursive: true });
  mkdirSync(extra, { recursive: true });
  writeFileSync(join(root, 'etc/waveos/waveos.yaml'), 'schema_version: 2\npolicy:\n  examples: false\n  extra_dirs: [extra-policies]\n');
  writeFileSync(join(dir, 'site.yaml'), POLICY(1));
  return { root, dir, extra };
}

describe('input files that could stall or bloat the daemon', () => {
  it('starts and answers with FIFOs in policies.d and an extra policy folder, and skips a FIFO added on hot reload', async () => {
    const { root, dir, extra } = setup();
    execFileSync('mkfifo', [join(dir, 'blocker.yaml')]);
    execFileSync('mkfifo', [join(extra, 'other.yml')]);
    const d = new DaemonProcess(root);
    daemons.push(d);
    const st = (await d.ready()) as { versions: { policy: string } };
    expect(st.versions.policy).toBe('site@1');
    const skipped = events(root, 'input.skipped');
    expect(skipped.map((e) => e.data.file).sort()).toEqual([join(dir, 'blocker.yaml'), join(extra, 'other.yml')].sort());
    expect(skipped[0]?.reason).toMatch(/a FIFO/);

    // Hot reload: a new FIFO and a valid change together; the change is taken, the FIFO skipped, the daemon answers.
    execFileSync('mkfifo', [join(dir, 'late.yaml')]);
    writeFileSync(join(dir, 'site.yaml'), POLICY(2));
    await waitFor('the reload', () => (events(root, 'policy.reloaded').length > 0 ? true : undefined));
    expect(events(root, 'input.skipped').map((e) => e.data.file)).toContain(join(dir, 'late.yaml'));
    const again = (await d.ready(5_000)) as { versions: { policy: string } };
    expect(again.versions.policy).toBe('site@2');
  });

  it('refuses a policy file over the limit on hot reload before parsing it, and the last good policy stays', async () => {
    const { root, dir } = setup();
    const d = new DaemonProcess(root);
    daemons.push(d);
    await d.ready();
    // 3 MB of valid YAML: a comment line repeated, so only the size check can refuse it.
    writeFileSync(join(dir, 'big.yaml'), `${POLICY(9)}${'# padding padding padding padding padding padding padding padding\n'.repeat(48_000)}`);
    const rej = await waitFor('the rejection', () => events(root, 'policy.rejected')[0]);
    expect(rej.reason).toContain('big.yaml');
    expect(rej.reason).toContain(`over the limit of ${INPUT_LIMITS.policyFile / 1024} KiB`);
    expect(((await d.ready(5_000)) as { versions: { policy: string } }).versions.policy).toBe('site@1');
  });

  it('config validate and policy validate refuse files over the limits, naming the file and the limit', () => {
    const { root } = setup();
    const big = join(root, 'big.yaml');
    writeFileSync(big, `schema_version: 2\n${'# pad pad pad pad pad pad pad pad pad pad pad pad pad pad pad\n'.repeat(20_000)}`);
    const c = cli(['config', 'validate', big]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain(big);
    expect(c.stderr).toMatch(/over the limit of 1 MiB/);
    const p = cli(['policy', 'validate', big]);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/over the limit of 256 KiB/);
    const slow = join(root, 'slow.yaml');
    writeFileSync(slow, 'schema_version: 2\nservices:\n  - name: healthy\n    command: x\n    health: {kind: tcp, port: 80, interval: 999999999h}\n');
    const b = cli(['config', 'validate', slow]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('services.0.health.interval: must be between 100ms and 1h, got 999999999h');
    const fifo = join(root, 'cfg.fifo');
    execFileSync('mkfifo', [fifo]);
    const f = cli(['config', 'validate', fifo]);
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/a FIFO, not a regular file/);
  });
});
