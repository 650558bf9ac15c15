import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, adminTokenEnv, cli, removeRoot, tempRoot } from './helpers/daemon.js';

// Chaos mode at the daemon's edges: on in dev with its counts reported, never in prod, a malformed spec refused.
let root: string | undefined;
let daemon: DaemonProcess | undefined;

afterEach(async () => {
  await daemon?.kill('SIGKILL');
  daemon = undefined;
  if (root) removeRoot(root);
  root = undefined;
});

function chaosEvents(r: string, env: NodeJS.ProcessEnv = {}): { kind: string; reason: string }[] {
  const out = cli(['events', '--kind', 'chaos', '--json', '--root', r], env);
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as { kind: string; reason: string }[];
}

describe('chaos mode', () => {
  it('dev: WAVEOS_CHAOS injects collector failures, counted in status and reported by telemetry', async () => {
    root = tempRoot();
    daemon = new DaemonProcess(root, ['--profile', 'dev'], { WAVEOS_CHAOS: 'seed=4;collector=1' });
    await daemon.ready();
    const status = await waitForStatus(root, (s) => (s.chaos?.injected['collector:fail'] ?? 0) >= 3);
    expect(status.chaos?.rules).toEqual([{ point: 'collector', rate: 1, effect: 'fail', delay_ms: 100 }]);
    expect(chaosEvents(root).map((e) => e.kind)).toEqual(['chaos.enabled']);
    const text = cli(['status', '--root', root]);
    expect(text.stdout).toMatch(/^chaos {7}ON \(seed 4\): collector:fail \d+/m);
    const failed = cli(['events', '--kind', 'telemetry.collector_failed', '--json', '--root', root]);
    expect(failed.stdout).toMatch(/injected by chaos at collector/);
  });

  it('prod: WAVEOS_CHAOS is ignored and said so; nothing is injected', async () => {
    root = tempRoot();
    const env = adminTokenEnv(root);
    daemon = new DaemonProcess(root, ['--profile', 'prod'], { WAVEOS_CHAOS: 'seed=4;collector=1' });
    const status = (await daemon.ready(20_000, env)) as { chaos?: unknown; profile: string };
    expect(status.profile).toBe('prod');
    expect(status.chaos).toBeUndefined();
    expect(chaosEvents(root, env).map((e) => e.kind)).toEqual(['chaos.refused']);
  });

  it('a malformed WAVEOS_CHAOS stops the start with a config error (exit 2) before anything is written', async () => {
    root = tempRoot();
    daemon = new DaemonProcess(root, ['--profile', 'dev'], { WAVEOS_CHAOS: 'collector=often' });
    const exit = await daemon.exit;
    expect(exit.code).toBe(2);
    expect(daemon.output).toMatch(/WAVEOS_CHAOS: collector: rate "often" is not a number from 0 to 1/);
    daemon = undefined;
  });
});

interface ChaosStatus {
  chaos?: { rules: unknown[]; injected: Record<string, number> };
}

async function waitForStatus(r: string, ok: (s: ChaosStatus) => boolean): Promise<ChaosStatus> {
  for (let i = 0; i < 200; i++) {
    const out = cli(['status', '--json', '--root', r]);
    if (out.code === 0) {
      const s = JSON.parse(out.stdout) as ChaosStatus;
      if (ok(s)) return s;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('status never showed the expected chaos counts');
}
