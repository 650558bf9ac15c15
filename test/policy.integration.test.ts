import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, artifactsDir, cli, removeRoot, tempRoot, waitFor, adminTokenEnv } from './helpers/daemon.js';

const roots: string[] = [];
const daemons: DaemonProcess[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) if (d.proc.exitCode === null && d.proc.signalCode === null) await d.kill('SIGKILL');
  for (const r of roots.splice(0)) removeRoot(r);
});

interface Ev {
  kind: string;
  severity: string;
  reason: string;
  data: Record<string, unknown>;
}

function events(root: string, kind: string): Ev[] {
  const r = cli(['events', '--json', '--kind', kind, '--root', root]);
  return r.code === 0 ? (JSON.parse(r.stdout) as Ev[]) : [];
}

function status(root: string): { versions: { policy: string }; policy: { mode: string } } {
  return JSON.parse(cli(['status', '--json', '--root', root]).stdout) as { versions: { policy: string }; policy: { mode: string } };
}

function runMetaVersion(root: string): string | null {
  return (JSON.parse(readFileSync(join(artifactsDir(root), 'latest/run_meta.json'), 'utf8')) as { policy_version: string | null }).policy_version;
}

const SITE = (v: number) => `policy_version: ${v}
rules:
  - id: site-temp
    kind: threshold
    metric: temperature_celsius
    op: ">"
    value: ${70 + v}
    for: 5s
    actions: [{ type: emit_event, severity: warning }]
`;

describe('policies in the real daemon', () => {
  it('loads policies.d (and the dev examples), hot-reloads valid changes, rejects invalid ones, and keeps the last good policy across a restart', async () => {
    const root = tempRoot();
    roots.push(root);
    const dir = join(root, 'etc/waveos/policies.d');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'site.yaml'), SITE(1));

    let d = new DaemonProcess(root);
    daemons.push(d);
    let st = (await d.ready()) as unknown as ReturnType<typeof status>;
    expect(st.versions.policy).toMatch(/^crash-breaker@1,leaker-budget@1,log-rate@1,modes@1,restart-limit@1,site@1$/);
    expect(runMetaVersion(root)).toBe(st.versions.policy);
    expect(events(root, 'policy.loaded')).toHaveLength(1);

    // A valid change: policy.reloaded old → new; status and run_meta follow.
    writeFileSync(join(dir, 'site.yaml'), SITE(2));
    const reloaded = await waitFor('policy.reloaded', () => events(root, 'policy.reloaded')[0], 15_000, 100);
    expect(reloaded.data.from).toMatch(/site@1$/);
    expect(reloaded.data.to).toMatch(/site@2$/);
    expect(reloaded.reason).toMatch(/policy reloaded: .*site@1 → .*site@2/);
    expect(status(root).versions.policy).toMatch(/site@2$/);
    await waitFor('run_meta to follow', () => (runMetaVersion(root)?.endsWith('site@2') ? true : undefined), 5_000);

    // An invalid change: rejected with the place, the last good policy stays in force.
    writeFileSync(join(dir, 'site.yaml'), 'policy_version: 3\nrules:\n  - id: site-temp\n    kind: threshold\n    metric: temperature_celsius\n    op: ">"\n    value: hot\n');
    const rejected = await waitFor('policy.rejected', () => events(root, 'policy.rejected')[0], 15_000, 100);
    expect(rejected.severity).toBe('error');
    expect(rejected.reason).toMatch(/site\.yaml:7:12: rules\.0\.value: expected a number or a size/);
    expect(rejected.data.kept_version).toMatch(/site@2$/);
    expect(status(root).versions.policy).toMatch(/site@2$/);
    expect(cli(['policy', 'validate', join(dir, 'site.yaml')]).code).toBe(2);

    // A restart with the broken file on disk: rejected again, and the last good policy is enforced.
    expect((await d.kill('SIGTERM')).code).toBe(143);
    d = new DaemonProcess(root);
    daemons.push(d);
    st = (await d.ready()) as unknown as ReturnType<typeof status>;
    expect(st.versions.policy).toMatch(/site@2$/);
    expect(runMetaVersion(root)).toBe(st.versions.policy);
    expect(events(root, 'policy.rejected')).toHaveLength(2);
    expect((await d.kill('SIGTERM')).code).toBe(143);
  });

  it('the prod profile loads only policies.d', async () => {
    const root = tempRoot();
    roots.push(root);
    mkdirSync(join(root, 'etc/waveos/policies.d'), { recursive: true });
    writeFileSync(join(root, 'etc/waveos/policies.d/only.yaml'), 'policy_version: "2026.11"\n');
    const d = new DaemonProcess(root, ['--profile', 'prod']);
    daemons.push(d);
    // The prod profile denies token-less requests: readiness is polled with an admin token.
    const st = (await d.ready(20_000, adminTokenEnv(root))) as unknown as ReturnType<typeof status>;
    expect(st.versions.policy).toBe('only@2026.11');
    expect(st.policy.mode).toBe('normal');
    expect((await d.kill('SIGTERM')).code).toBe(143);
  });
});
