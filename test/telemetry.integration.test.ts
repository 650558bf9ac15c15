import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess, artifactsDir, cli, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';
import { parsePromText } from './helpers/prom-text.js';

interface MetricRow {
  name: string;
  value: number;
  unit: string;
  labels: Record<string, string>;
}

function csvRows(file: string): { ts: number; metric: string; value: number; unit: string; labels: string }[] {
  const [header, ...lines] = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  expect(header).toBe('ts,metric,value,unit,labels');
  return lines.map((l) => {
    const [ts = '', metric = '', value = '', unit = '', ...labels] = l.split(',');
    return { ts: Date.parse(ts), metric, value: Number(value), unit, labels: labels.join(',') };
  });
}

describe('telemetry on the real daemon', () => {
  let root: string;
  let d: DaemonProcess;
  let status: Record<string, unknown>;

  beforeAll(async () => {
    root = tempRoot('waveos-telemetry-');
    writeFileSync(
      join(root, 'telemetry.yaml'),
      [
        'schema_version: 2',
        'artifacts:',
        '  flush_interval: 1s',
        'telemetry:',
        '  sample_interval: 1s',
        '  flush_interval: 1s',
        '  prometheus: {enabled: true, host: 127.0.0.1, port: 0}',
        '',
      ].join('\n'),
    );
    d = new DaemonProcess(root, ['--config', join(root, 'telemetry.yaml')]);
    status = await d.ready();
  });

  afterAll(async () => {
    if (d.proc.exitCode === null) await d.kill('SIGKILL');
    removeRoot(root);
  });

  it('status shows the health score and what it is made of', () => {
    expect(status.health_score).toBe(100);
    expect(status.health).toMatchObject({ score: 100, deductions: [] });
    const text = cli(['status', '--root', root]);
    expect(text.stdout).toMatch(/health\s+100/);
  });

  it('waveos metrics --json answers with CPU, memory, network and queue depths', async () => {
    const rows = await waitFor(
      'cpu_usage_ratio in waveos metrics --json',
      () => {
        const r = cli(['metrics', '--json', '--root', root]);
        expect(r.code).toBe(0);
        const body = JSON.parse(r.stdout) as { metrics: MetricRow[] };
        return body.metrics.some((m) => m.name === 'cpu_usage_ratio') ? body.metrics : undefined;
      },
      20_000,
      250,
    );
    const names = new Set(rows.map((m) => m.name));
    for (const n of ['cpu_usage_ratio', 'memory_available_bytes', 'net_receive_bytes_total', 'queue_depth', 'daemon_rss_bytes', 'health_score']) expect(names).toContain(n);
    for (const m of rows) {
      expect(typeof m.value).toBe('number');
      expect(typeof m.unit).toBe('string');
      expect(typeof m.labels).toBe('object');
    }
    expect(rows.find((m) => m.name === 'queue_depth' && m.labels.queue === 'journal.batch')).toBeDefined();
    const text = cli(['metrics', '--root', root]);
    expect(text.stdout).toMatch(/^cpu_usage_ratio\{cpu="total"\} [\d.e-]+ ratio$/m);
  });

  it('/metrics parses as the Prometheus text format with waveos_ names', async () => {
    const url = (status.telemetry as { prometheus: string | null }).prometheus;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(url as string);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain; version=0\.0\.4/);
    const fams = parsePromText(await res.text());
    expect(fams.get('waveos_cpu_usage_ratio')?.type).toBe('gauge');
    expect(fams.get('waveos_memory_available_bytes')?.samples[0]?.value).toBeGreaterThan(0);
    expect(fams.get('waveos_net_receive_bytes_total')?.type).toBe('counter');
    expect(fams.get('waveos_health_score')?.samples[0]?.value).toBe(100);
    for (const name of fams.keys()) expect(name.startsWith('waveos_')).toBe(true);
    expect((await fetch(String(url).replace('/metrics', '/other'))).status).toBe(404);
  });

  it('metrics.csv holds CPU, memory, network and queue-depth series at the 1 s cadence; --since reads the history', async () => {
    // Let at least 8 samples accumulate, then stop cleanly so everything is exported.
    await waitFor(
      'eight CPU samples in the history',
      () => {
        const r = cli(['metrics', '--json', '--since', '1h', '--name', 'cpu_usage_ratio', '--root', root]);
        const h = (JSON.parse(r.stdout) as { history: { samples: MetricRow[] } }).history;
        return h.samples.filter((s) => s.labels.cpu === 'total').length >= 8 ? true : undefined;
      },
      30_000,
      500,
    );
    const exit = await d.kill('SIGTERM');
    expect(exit.code).toBe(143);
    const run = readdirSync(artifactsDir(root)).find((n) => n !== 'latest') as string;
    const rows = csvRows(join(artifactsDir(root), run, 'metrics.csv'));
    const metrics = new Set(rows.map((r) => r.metric));
    for (const n of ['cpu_usage_ratio', 'memory_available_bytes', 'net_receive_bytes_total', 'queue_depth']) expect(metrics).toContain(n);
    expect(rows.find((r) => r.metric === 'queue_depth' && r.labels === 'queue=journal.batch')).toBeDefined();
    const cpu = rows.filter((r) => r.metric === 'cpu_usage_ratio' && r.labels === 'cpu=total').map((r) => r.ts);
    expect(cpu.length).toBeGreaterThanOrEqual(8);
    const gaps = cpu.slice(1).map((t, i) => t - (cpu[i] as number));
    gaps.sort((a, b) => a - b);
    // The median gap is the configured 1 s (loose bounds: the machine is shared).
    const median = gaps[Math.floor(gaps.length / 2)] as number;
    expect(median).toBeGreaterThanOrEqual(500);
    expect(median).toBeLessThanOrEqual(2_000);

    // With the daemon stopped, --since reads the journal file directly.
    const off = cli(['metrics', '--json', '--since', '1h', '--name', 'memory_available_bytes', '--root', root]);
    expect(off.code).toBe(0);
    const hist = (JSON.parse(off.stdout) as { history: { samples: MetricRow[] } }).history;
    expect(hist.samples.length).toBeGreaterThan(0);
    expect(cli(['metrics', '--since', 'yesterday-ish', '--root', root]).code).toBe(2);
  });
});
