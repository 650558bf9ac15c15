import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, cli, removeRoot, sleep, tempRoot, waitFor } from './helpers/daemon.js';
import { freePort } from './helpers/net.js';
import { exitBreakerPolicy, installPolicy } from './helpers/policies.js';
import { writeConfig } from './helpers/services.js';

const repo = join(import.meta.dirname, '..');
const RULES_DIR = join(repo, 'observability/prometheus');
const DASHBOARD = join(repo, 'observability/grafana/waveos-dashboard.json');

// Debian's prometheus package brings both promtool and the server; the test installs it where it is missing.
const ensured = spawnSync('bash', [join(repo, 'scripts/ensure-debian-package.sh'), 'promtool', 'prometheus'], { encoding: 'utf8' });
if (ensured.status !== 0) throw new Error(`promtool and prometheus are needed: ${ensured.stderr}`);

describe('the shipped alert rules', () => {
  it('pass promtool check rules', () => {
    const r = spawnSync('promtool', ['check', 'rules', join(RULES_DIR, 'waveos-alerts.yaml')], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: 9 rules found/);
  });

  it('pass their promtool unit tests, and every rule has one', () => {
    const r = spawnSync('promtool', ['test', 'rules', 'waveos-alerts.test.yaml'], { cwd: RULES_DIR, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const rules = [...readFileSync(join(RULES_DIR, 'waveos-alerts.yaml'), 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    const tested = new Set([...readFileSync(join(RULES_DIR, 'waveos-alerts.test.yaml'), 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    expect(rules.filter((n) => !tested.has(n))).toEqual([]);
  });
});

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}


const procs: ChildProcess[] = [];
const daemons: DaemonProcess[] = [];
const roots: string[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) p.kill('SIGKILL');
  for (const d of daemons.splice(0)) await d.kill('SIGTERM');
  for (const r of roots.splice(0)) removeRoot(r);
});

const POLICY = exitBreakerPolicy({ version: 'o.1', threshold: 10, window: '1m', open_for: '1h', probe: '1m' });

/** The dashboard's variables as Grafana would fill them for "All". */
function substitute(expr: string): string {
  return expr.replaceAll('$device', '.*').replaceAll('$fleet', '.*').replaceAll('$__rate_interval', '30s');
}

describe('the Grafana dashboard against a real Prometheus that scraped a real daemon', () => {
  it('every panel query returns data after a crash loop that ends in safe mode', async () => {
    const root = tempRoot('waveos-dash-');
    roots.push(root);
    installPolicy(root, 'o.yaml', POLICY);
    const config = writeConfig(root, {
      device: { device_id: 'ci-board' },
      telemetry: { sample_interval: '1s', flush_interval: '1s', prometheus: { enabled: true, host: '127.0.0.1', port: 0 } },
      recovery: { backoff_initial: '200ms', backoff_max: '1s', jitter: 0, crash_loop: { exits: 1000, window: '1m' } },
      services: [
        { name: 'crasher', command: process.execPath, args: ['-e', 'setTimeout(() => process.exit(3), 300)'], modes: ['normal'] },
        { name: 'steady', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] },
      ],
    });
    const d = new DaemonProcess(root, ['--config', config]);
    daemons.push(d);
    await d.ready();
    const target = await waitFor('the Prometheus URL in status', () => {
      const s = JSON.parse(cli(['status', '--json', '--root', root]).stdout) as { telemetry?: { prometheus?: string | null } };
      return s.telemetry?.prometheus ?? undefined;
    });
    const promPort = await freePort();
    const promDir = join(root, 'prometheus');
    mkdirSync(promDir);
    writeFileSync(
      join(promDir, 'prometheus.yml'),
      [
        'global: {scrape_interval: 1s, evaluation_interval: 1s}',
        'scrape_configs:',
        '  - job_name: waveos',
        `    static_configs: [{targets: ["${new URL(target).host}"], labels: {device: ci-board, fleet: ci}}]`,
        '',
      ].join('\n'),
    );
    const prom = spawn('prometheus', [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: 'ignore' });
    procs.push(prom);
    const query = async (q: string): Promise<unknown[]> => {
      const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => undefined);
      if (!r?.ok) return [];
      return ((await r.json()) as { data: { result: unknown[] } }).data.result;
    };
    await waitFor('safe mode', () => (JSON.parse(cli(['status', '--json', '--root', root]).stdout) as { mode: string }).mode === 'safe' || undefined, 60_000, 500);

    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[]; templating: { list: { name: string; definition?: string }[] } };
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: substitute(t.expr) })));
    expect(exprs.length).toBeGreaterThan(15);
    // Scrapes accumulate; wait until every query has data (or say which never did).
    let empty: string[] = [];
    for (let i = 0; i < 90; i++) {
      empty = [];
      for (const e of exprs) if ((await query(e.expr)).length === 0) empty.push(`${e.panel}: ${e.expr}`);
      if (empty.length === 0) break;
      await sleep(1_000);
    }
    expect(empty).toEqual([]);
    // The variables' queries name the device and the fleet.
    const labels = async (name: string): Promise<string[]> => ((await (await fetch(`http://127.0.0.1:${promPort}/api/v1/label/${name}/values?match[]=waveos_build_info`)).json()) as { data: string[] }).data;
    expect(await labels('device')).toEqual(['ci-board']);
    expect(await labels('fleet')).toEqual(['ci']);
    // What Prometheus saw is the scenario: the device in safe mode after the crasher's restarts climbed.
    expect(await query('waveos_mode{mode="safe"} == 1')).toHaveLength(1);
    expect(await query('waveos_breaker_state{rule="crash-storm", state="open"} == 1')).toHaveLength(1);
    expect(await query('increase(waveos_service_restarts_total{service="crasher"}[5m]) > 3')).toHaveLength(1);
  }, 180_000);
});
