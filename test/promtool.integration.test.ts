import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, waitFor } from './helpers/daemon.js';
import { daemonFixture } from './helpers/fixture.js';
import { buildExposition } from '../daemon/telemetry/prometheus.js';
import { systemClock } from '../daemon/core/index.js';
import { Registry } from '../daemon/telemetry/registry.js';

const repo = join(import.meta.dirname, '..');

/** promtool from Debian's prometheus package; on CI its absence is a failure, elsewhere a stated skip. */
function ensurePromtool(): string | undefined {
  const r = spawnSync('bash', [join(repo, 'scripts/ensure-debian-package.sh'), 'promtool', 'prometheus'], { encoding: 'utf8' });
  if (r.status === 0) return undefined;
  const why = `promtool is not installed and could not be: ${r.stderr.trim() || `exit ${String(r.status)}`}`;
  if (process.env.CI === 'true') throw new Error(why);
  return why;
}

const missing = ensurePromtool();
// The reason a skip happened is in the suite's name, where the test report shows it.
const title = missing ? `the promtool lint (skipped: ${missing})` : 'the /metrics exposition passes promtool check metrics';

function promtool(text: string): { status: number | null; stdout: string; stderr: string } {
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: lint.status, stdout: lint.stdout, stderr: lint.stderr };
}

describe.skipIf(missing !== undefined)(title, () => {
  it('states installed bundles and every breaker state, and still lints clean', async () => {
    // A fresh daemon has no bundle installed: the bundle and breaker families are checked with sources that have some.
    const expo = await buildExposition(new Registry({ clock: systemClock, maxSeries: 100, windowPoints: 0 }), {
      build: () => ({ version: '1.2.3', commit: null }),
      mode: () => ({ current: 'degraded', known: ['normal', 'degraded', 'safe'] }),
      breakers: () => [{ rule_id: 'crash-breaker', state: 'half_open' }],
      bundles: () => ({ 'app/sensor-app': { version: '2.0.1' }, 'policy/default': { version: undefined } }),
    });
    const text = await expo.metrics();
    expo.close();
    expect(promtool(text)).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(text).toMatch(/^waveos_bundle_info\{name="sensor-app",kind="app",version="2\.0\.1"\} 1$/m);
    expect(text).toMatch(/^waveos_bundle_info\{name="default",kind="policy",version="unknown"\} 1$/m);
    expect(text).toMatch(/^waveos_breaker_state\{rule="crash-breaker",state="half_open"\} 1$/m);
    expect(text).toMatch(/^waveos_breaker_state\{rule="crash-breaker",state="closed"\} 0$/m);
    expect(text).toMatch(/^waveos_mode\{mode="degraded"\} 1$/m);
    expect(text).toMatch(/^waveos_build_info\{version="1\.2\.3",commit="unknown"\} 1$/m);
  });

  const fixture = daemonFixture('waveos-promtool-');

  it('lints clean and carries build, mode, breaker and bundle metrics', async () => {
    const { root } = await fixture.start({
      schema_version: 2,
      telemetry: { sample_interval: '1s', flush_interval: '1s', prometheus: { enabled: true, host: '127.0.0.1', port: 0 } },
      policy: { examples: true },
    });
    // docs/telemetry.md: the URL is in `status --json` under telemetry.prometheus.
    const url = await waitFor('the Prometheus URL in status --json', () => {
      const r = cli(['status', '--json', '--root', root]);
      const s = JSON.parse(r.stdout) as { telemetry?: { prometheus?: string | null } };
      return s.telemetry?.prometheus ?? undefined;
    });
    // Wait for a full sampling round so every collector's series are in the exposition.
    let text = '';
    for (let i = 0; i < 300 && !/^waveos_daemon_event_loop_lag_seconds\{/m.test(text); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      text = await (await fetch(url)).text();
    }
    expect(promtool(text)).toEqual({ status: 0, stdout: '', stderr: '' });

    expect(text).toMatch(/^# TYPE waveos_build_info gauge$/m);
    expect(text).toMatch(/^waveos_build_info\{version="[^"]+",commit="[^"]*"\} 1$/m);
    expect(text).toMatch(/^waveos_mode\{mode="normal"\} 1$/m);
    expect(text).toMatch(/^waveos_mode\{mode="safe"\} 0$/m);
    expect(text).toMatch(/^# TYPE waveos_daemon_event_loop_lag_seconds summary$/m);
    expect(text).toMatch(/^waveos_daemon_event_loop_lag_seconds\{quantile="0\.99"\} [0-9.e+-]+$/m);
    expect(text).toMatch(/^# TYPE waveos_breaker_state gauge$/m);
    // policies/crash-breaker.yaml (the examples are on in dev) has a breaker, closed at start.
    expect(text).toMatch(/^waveos_breaker_state\{rule="[^"]+",state="closed"\} 1$/m);
    expect(text).toMatch(/^waveos_breaker_state\{rule="[^"]+",state="open"\} 0$/m);
    expect(text).toMatch(/^# TYPE waveos_bundle_info gauge$/m);
  });
});
