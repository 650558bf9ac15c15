import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, cli, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';
import { exitBreakerPolicy, installPolicy } from './helpers/policies.js';
import { type Ev, events, example, killMarked, writeConfig } from './helpers/services.js';

const MARK = 'WAVEOS_TEST_MARK';
const roots: string[] = [];
const daemons: DaemonProcess[] = [];
afterEach(() => {
  for (const d of daemons.splice(0)) d.proc.kill('SIGKILL');
  for (const r of roots.splice(0)) {
    killMarked(MARK, r);
    removeRoot(r);
  }
});

const POLICY = exitBreakerPolicy({ version: 'b.1', threshold: 3, window: '20s', open_for: '6s', probe: '1s' });

interface Status {
  mode: string;
  policy: { breakers: { rule_id: string; state: string; trips: number }[] };
}

function status(root: string): Status {
  const r = cli(['status', '--json', '--root', root]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Status;
}

describe('a breaker across a daemon restart', () => {
  it('stays open with its trips after the restart and returns the device to normal after its cool-down', async () => {
    const root = tempRoot();
    roots.push(root);
    installPolicy(root, 'b.yaml', POLICY);
    const config = writeConfig(root, {
      telemetry: { prometheus: { enabled: false } },
      recovery: { backoff_initial: '200ms', backoff_max: '1s', jitter: 0, crash_loop: { exits: 1000, window: '1m' } },
      services: [example('crasher', 'crasher.mjs', ['--after-ms', '300', '--exit-code', '3'], { modes: ['normal'], env: { [MARK]: root } })],
    });
    const first = new DaemonProcess(root, ['--config', config], { [MARK]: root });
    daemons.push(first);
    await first.ready();
    await waitFor('breaker open', () => events(root, 'policy.breaker_open').at(0), 45_000, 300);
    await waitFor('safe mode', () => (status(root).mode === 'safe' ? true : undefined), 20_000, 300);
    // Killed, as a crash or power cut would: no clean stop.
    await first.kill('SIGKILL');
    killMarked(MARK, root);

    const second = new DaemonProcess(root, ['--config', config], { [MARK]: root });
    daemons.push(second);
    await second.ready();
    const s = status(root);
    expect(s.mode).toBe('safe');
    const b = s.policy.breakers.find((x) => x.rule_id === 'crash-storm');
    expect(b?.trips).toBe(1);
    expect(['open', 'half_open']).toContain(b?.state);
    // The cool-down runs on in the new run, and closing returns the device to the mode it was in.
    const closed = await waitFor('breaker closed', () => events(root, 'policy.breaker_closed').at(0), 30_000, 300);
    expect(closed.reason).toMatch(/returning from safe to normal/);
    await waitFor('normal mode again', () => (status(root).mode === 'normal' ? true : undefined), 20_000, 300);
    const changed: Ev[] = events(root, 'mode.changed');
    expect(changed.at(-1)?.data).toMatchObject({ from: 'safe', to: 'normal' });
  });
});
