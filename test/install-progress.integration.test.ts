import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { progressLine } from '../daemon/cli/install-progress.js';
import { appDir, buildApp, makeKey, trustKey } from './helpers/bundles.js';
import { BIN, cli } from './helpers/daemon.js';
import { daemonFixture } from './helpers/fixture.js';
import { events } from './helpers/services.js';

const fixture = daemonFixture('waveos-install-progress-');

describe('bundle install says where it is', () => {
  it('names each step from its event', () => {
    expect(progressLine({ kind: 'bundle.verified', reason: 'signature ok' })).toBe('  verified    signature ok');
  });

  it('on a terminal: verify, stage, activate, the trial with its time left, commit; piped: only the result', async () => {
    const { root } = await fixture.start({ telemetry: { prometheus: { enabled: false } } });
    const k = makeKey(join(root, 'keys'));
    trustKey(root, k);
    await buildApp(k, appDir(root, 'demo', '1.0.0'), join(root, 'demo-1.bundle'), '1.0.0', { trialMs: 7_000 });
    await buildApp(k, appDir(root, 'demo', '1.1.0'), join(root, 'demo-2.bundle'), '1.1.0', { trialMs: 300 });
    // script(1) gives the command a terminal, as an operator's shell would; its output is stdout and stderr.
    const tty = spawnSync('script', ['-qec', `${process.execPath} ${BIN} bundle install ${join(root, 'demo-1.bundle')} --root ${root}`, '/dev/null'], { encoding: 'utf8' });
    expect(tty.status, tty.stdout).toBe(0);
    const steps = tty.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]);
    const order = ['received', 'verified', 'staged', 'activated', 'trial', 'committed'].map((s) => steps.indexOf(s));
    expect(order.every((i) => i >= 0), tty.stdout).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(tty.stdout).toMatch(/trial\s+\d+ s left/);
    expect(tty.stdout).toMatch(/it lasts 7 s/);
    const trial = events(root).find((e) => e.kind === 'bundle.trial');
    expect(trial?.data.trial_ms).toBe(7_000);

    const piped = cli(['bundle', 'install', join(root, 'demo-2.bundle'), '--root', root]);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.stdout.trim().split('\n')).toHaveLength(1);
  }, 60_000);
});
