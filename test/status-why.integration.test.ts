import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adminTokenEnv, cli, waitFor } from './helpers/daemon.js';
import { daemonFixture } from './helpers/fixture.js';
import { exitBreakerPolicy } from './helpers/policies.js';
import { events, example } from './helpers/services.js';

const fixture = daemonFixture('waveos-status-why-');

const BREAKER = exitBreakerPolicy({ version: 'b.1', threshold: 3, window: '20s', open_for: '1h', probe: '1s' });

const GOOD = `policy_version: "n.1"
rules:
  - id: note-rate
    kind: rate_limit
    flow: log.lines
    limit: 100000
    per: 1s
    burst: 100000
`;

interface ModeReason {
  mode: string;
  from: string | null;
  by: string;
  rule: { id: string; kind: string | null; policy: string | null } | null;
  operator: string | null;
  since: string;
  reason: string;
}

interface Rejected {
  file: string;
  reason: string;
  kept: string | null;
}

interface Status {
  mode: string;
  mode_reason: ModeReason | null;
  policy_rejected: Rejected[];
}

function status(root: string): Status {
  const r = cli(['status', '--json', '--root', root]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Status;
}

function human(root: string): string {
  const r = cli(['status', '--root', root]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe('status says why the mode is what it is', () => {
  it('names the operator token that changed it, and when', async () => {
    const { root } = await fixture.start({ telemetry: { prometheus: { enabled: false } } });
    expect(status(root).mode_reason).toBeNull();
    expect(human(root)).toMatch(/mode {8}normal {2}\(no mode change recorded/);

    const env = adminTokenEnv(root, 'night-shift');
    const set = cli(['mode', 'set', 'degraded', '--reason', 'maintenance window', '--root', root], env);
    expect(set.code, set.stderr).toBe(0);
    const byOperator = status(root).mode_reason;
    expect(byOperator).toMatchObject({ mode: 'degraded', from: 'normal', by: 'operator', operator: 'night-shift', rule: null });
    expect(byOperator?.reason).toContain('maintenance window');
    const changed = events(root, 'mode.changed').at(-1) as unknown as { ts: string };
    expect(byOperator?.since).toBe(changed.ts);
    expect(human(root)).toMatch(/mode {8}degraded {2}\(set by operator token night-shift at \S+Z, from normal: .*maintenance window/);
  });

  it('names the breaker rule and its policy file', async () => {
    const { root } = await fixture.start({
      telemetry: { prometheus: { enabled: false } },
      recovery: { backoff_initial: '200ms', backoff_max: '1s', jitter: 0, crash_loop: { exits: 1000, window: '1m' } },
      services: [example('crasher', 'crasher.mjs', ['--after-ms', '300', '--exit-code', '3'])],
    });
    writeFileSync(join(root, 'etc/waveos/policies.d/storm.yaml'), BREAKER);
    await waitFor('safe mode', () => (status(root).mode === 'safe' ? true : undefined), 45_000, 300);
    const byRule = status(root).mode_reason;
    expect(byRule).toMatchObject({ mode: 'safe', from: 'normal', by: 'rule', operator: null, rule: { id: 'crash-storm', kind: 'breaker', policy: 'storm' } });
    expect(human(root)).toMatch(/mode {8}safe {2}\(set by rule crash-storm \(breaker, policy storm\) at \S+Z, from normal: /);
  }, 90_000);
});

describe('status lists refused policy files that are not in force', () => {
  it('shows a broken file with its reason and what stays in force, and drops it once fixed', async () => {
    const { root } = await fixture.start({ telemetry: { prometheus: { enabled: false } } });
    const dir = join(root, 'etc/waveos/policies.d');
    mkdirSync(dir, { recursive: true });
    expect(status(root).policy_rejected).toEqual([]);

    // A file that never was good: nothing of it is in force.
    const never = join(dir, 'never.yaml');
    writeFileSync(never, 'policy_version: 1\nrules:\n  - id: x\n    kind: no_such_kind\n');
    const first = await waitFor('never.yaml refused', () => status(root).policy_rejected.find((f) => f.file === never));
    expect(first.kept).toBeNull();
    expect(first.reason).toMatch(/never\.yaml/);
    expect(human(root)).toContain(`REJECTED    policy file ${never} is not in force`);

    // A good file broken later: its last good version stays in force and status says so.
    const notes = join(dir, 'notes.yaml');
    unlinkSync(never);
    writeFileSync(notes, GOOD);
    await waitFor('notes.yaml in force', () => (cli(['status', '--json', '--root', root]).stdout.includes('notes@n.1') && status(root).policy_rejected.length === 0 ? true : undefined));
    writeFileSync(notes, `${GOOD}  - id: [broken\n`);
    const broken = await waitFor('notes.yaml refused', () => status(root).policy_rejected.find((f) => f.file === notes));
    expect(broken.kept).toBe('notes@n.1');
    expect(human(root)).toMatch(/REJECTED {4}policy file .*notes\.yaml is not in force \(its last good version notes@n\.1 is\): /);

    // Fixed back to the very text in force: no new event says so, and the file drops out all the same.
    writeFileSync(notes, GOOD);
    await waitFor('no refused files', () => (status(root).policy_rejected.length === 0 ? true : undefined));
    expect(human(root)).not.toContain('REJECTED');
  }, 60_000);
});
