import { describe, expect, it } from 'vitest';
import { apiCall } from '../daemon/api/index.js';
import { type DaemonProcess, cli, waitFor } from './helpers/daemon.js';
import { daemonFixture } from './helpers/fixture.js';
import { events, example, services } from './helpers/services.js';

const { start: startDaemon } = daemonFixture('waveos-record-');

interface Health {
  score: number;
  deductions: { input: string; why: string }[];
  notes: string[];
}

async function waitForHealth(d: DaemonProcess, ok: (h: Health) => boolean): Promise<{ health: Health }> {
  let last: { health: Health } | undefined;
  for (let i = 0; i < 300; i++) {
    last = (await apiCall({ socketPath: d.socket }, 'GET', '/v1/status')).body as { health: Health };
    if (ok(last.health)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last as { health: Health };
}

const lastSeq = (root: string): number => Math.max(0, ...events(root).map((e) => e.seq));

describe('a clean record', () => {
  it('refuses an unknown mode or service as a usage error before anything is journaled', async () => {
    const { root } = await startDaemon({ services: [example('healthy', 'healthy.mjs')] });
    await waitFor('healthy running', () => (services(root)[0]?.state === 'running' ? true : undefined));
    const before = lastSeq(root);

    const mode = cli(['mode', 'set', 'turbo', '--reason', 'typo', '--root', root]);
    expect(mode.code, mode.stderr).toBe(2);
    expect(mode.stderr).toMatch(/no mode named "turbo"/);
    const svc = cli(['service', 'restart', 'helthy', '--root', root]);
    expect(svc.code, svc.stderr).toBe(2);
    expect(svc.stderr).toMatch(/no service named "helthy"; did you mean "healthy"\?/);

    expect(lastSeq(root)).toBe(before);
    expect(events(root).filter((e) => e.kind === 'action.failed' || e.kind === 'action.requested' && e.seq > before)).toEqual([]);
  });

  it('counts restarts that were asked for apart from crashes in the health score', async () => {
    const { root, d } = await startDaemon({ services: [example('healthy', 'healthy.mjs')] });
    await waitFor('healthy running', () => (services(root)[0]?.state === 'running' ? true : undefined));
    for (let i = 0; i < 3; i++) {
      const r = cli(['service', 'restart', 'healthy', '--reason', 'maintenance', '--root', root]);
      expect(r.code, r.stderr).toBe(0);
    }
    for (const m of ['degraded', 'normal']) expect(cli(['mode', 'set', m, '--reason', 'drill', '--root', root]).code).toBe(0);
    // The score is recomputed on the telemetry schedule: wait for the run that saw the restarts.
    const health = await waitForHealth(d, (h) => h.notes.length > 0);
    expect(health.health.deductions.filter((x) => x.input === 'service_restart')).toEqual([]);
    expect(health.health.score).toBe(100);
    expect(health.health.notes.join(' ')).toMatch(/restart\(s\) .* were asked for/);
    expect(services(root)[0]?.restarts).toBeGreaterThanOrEqual(3);
  });

  it('still charges restarts after crashes', async () => {
    const { root, d } = await startDaemon({
      services: [example('crasher', 'crasher.mjs', ['--after-ms', '100'])],
      recovery: { backoff_initial: '100ms', backoff_factor: 1, jitter: 0, backoff_max: '200ms', crash_loop: { exits: 50, window: '1m' } },
    });
    await waitFor('two crash restarts', () => ((services(root)[0]?.restarts ?? 0) >= 2 ? true : undefined));
    const body = await waitForHealth(d, (h) => h.deductions.some((x) => x.input === 'service_restart'));
    expect(body.health.deductions.find((x) => x.input === 'service_restart')?.why).toMatch(/after a crash or a failed health check/);
  });
});
