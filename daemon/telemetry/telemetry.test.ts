import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parsePromText } from '../../test/helpers/prom-text.js';
import { type TelemetryConfig, effectiveConfig } from '../config/index.js';
import { FakeClock, ensureLayout, pathsFor, silentLogger } from '../core/index.js';
import { Journal } from '../journal/index.js';
import type { ServiceInfo } from './collectors.js';
import { METRICS } from './metrics.js';
import { buildExposition } from './prometheus.js';
import { Telemetry } from './telemetry.js';

let dir: string;
let journal: Journal;
let clock: FakeClock;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'telemetry-'));
  clock = new FakeClock(Date.now());
  journal = Journal.openWriter(join(dir, 'j.db'), { clock, runId: 'r', bootId: 'b', batchDelayMs: 0 });
});
afterEach(() => {
  for (const c of children.splice(0)) {
    try {
      process.kill(-(c.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

function config(over: Partial<TelemetryConfig> = {}): TelemetryConfig {
  const base = effectiveConfig(undefined, 'dev', 'test-device').telemetry;
  return { ...base, prometheus: { ...base.prometheus, enabled: false }, ...over };
}

function make(over: Partial<TelemetryConfig> = {}, services?: () => ServiceInfo[]): Telemetry {
  const paths = pathsFor(join(dir, 'root'));
  ensureLayout(paths);
  return new Telemetry({ journal, config: config(over), clock, log: silentLogger(), paths, services });
}

/** Sampling passes, one simulated second apart; `realMs` lets the kernel's jiffy counters move in between. */
async function ticks(t: Telemetry, n: number, realMs = 0): Promise<void> {
  for (let i = 0; i < n; i++) {
    await t.tick();
    clock.advance(1_000);
    if (realMs) await new Promise((r) => setTimeout(r, realMs));
  }
}

function kinds(prefix: string): string[] {
  journal.flush();
  return journal
    .events({ kindPrefix: prefix })
    .map((e) => `${e.kind}:${String(e.data.collector ?? e.data.metric ?? '')}`);
}

describe('Telemetry', () => {
  it('samples the real system into the registry and the journal: CPU, memory, network, queues, self, disk', async () => {
    const t = make({ unchanged_every_ms: 0 });
    await t.start();
    try {
      await ticks(t, 6, 30);
      expect(t.value('cpu_usage_ratio', { cpu: 'total' })).toBeGreaterThanOrEqual(0);
      expect(t.value('memory_available_bytes')).toBeGreaterThan(0);
      expect(t.value('net_receive_bytes_total', { interface: 'lo' })).toBeGreaterThanOrEqual(0);
      expect(t.value('queue_depth', { queue: 'telemetry.history' })).toBeGreaterThanOrEqual(0);
      expect(t.value('daemon_rss_bytes')).toBeGreaterThan(10e6);
      expect(t.value('daemon_open_fds')).toBeGreaterThan(2);
      expect(t.value('filesystem_free_bytes', { volume: 'state', path: join(dir, 'root/var/lib/waveos') })).toBeGreaterThan(0);
      expect(t.window('cpu_usage_ratio', { cpu: 'total' }).length).toBeGreaterThanOrEqual(4);
      expect(t.health().score).toBe(100);
      const h = t.historySince(0, undefined, 100_000);
      const names = new Set(h.samples.map((s) => s.name));
      for (const n of ['cpu_usage_ratio', 'memory_available_bytes', 'net_receive_bytes_total', 'queue_depth', 'daemon_rss_bytes']) expect(names).toContain(n);
      // Every collector ran on every pass: memory has one sample per simulated second.
      const mem = h.samples.filter((s) => s.name === 'memory_available_bytes');
      expect(mem.map((s) => Date.parse(s.ts))).toEqual(Array.from({ length: 6 }, (_, i) => (mem[0] ? Date.parse(mem[0].ts) : 0) + i * 1_000));
    } finally {
      await t.stop();
    }
  });

  it('stamps samples with their sampling tick when taken within telemetry.stamp_tolerance of it, and follows a clock that steps back', async () => {
    const t = make({ stamp_tolerance_ms: 50 });
    t.registry.define({ name: 'test_jitter_ratio', type: 'gauge', unit: 'ratio', help: 'a test gauge', labelNames: [] });
    let lag = 0;
    let n = 0;
    // The sample is taken `lag` ms into its pass, as a collector late in a busy pass takes it.
    t.addCollector({ name: 'jittery', intervalMs: 1_000, timeoutMs: 500, collect: () => (clock.advance(lag), void t.registry.set('test_jitter_ratio', {}, ++n / 100)) });
    const wall0 = clock.now();
    const mono0 = clock.monoMs();
    const pass = async (k: number, ms: number): Promise<void> => {
      clock.advance(mono0 + k * 1_000 - clock.monoMs());
      lag = ms;
      await t.tick(mono0 + k * 1_000);
    };
    const lags = [0, 3, 17, 50, 2, 51, 8, 30, 120, 12];
    for (const [k, ms] of lags.entries()) await pass(k, ms);
    // The wall clock steps back a minute (an NTP step): the stamps follow it, on the new clock's grid.
    clock.jumpWall(-60_000);
    for (let k = 10; k < 15; k++) await pass(k, 5);
    t.flushHistory();
    const got = t.historySince(wall0 - 120_000, 'test_jitter_ratio', 1_000).samples.map((s) => [Date.parse(s.ts), s.value]);
    const want = [
      ...lags.map((ms, k) => [wall0 + k * 1_000 + (ms <= 50 ? 0 : ms), (k + 1) / 100]),
      ...[10, 11, 12, 13, 14].map((k) => [wall0 - 60_000 + k * 1_000, (k + 1) / 100]),
    ].sort((a, b) => (a[0] as number) - (b[0] as number));
    expect(got).toEqual(want);
    // The step back sealed the chunk of the samples before it, as without stamping.
    const sealed = journal.chunksAfter(0, 100);
    expect(sealed.map((c) => [c.count, c.start_ms, c.end_ms])).toEqual([[10, wall0, wall0 + 9_000]]);
  });

  it('with telemetry.stamp_tolerance 0 keeps the time each sample was taken', async () => {
    const t = make({ stamp_tolerance_ms: 0 });
    t.registry.define({ name: 'test_jitter_ratio', type: 'gauge', unit: 'ratio', help: 'a test gauge', labelNames: [] });
    t.addCollector({ name: 'jittery', intervalMs: 1_000, timeoutMs: 500, collect: () => (clock.advance(7), void t.registry.set('test_jitter_ratio', {}, 1)) });
    const wall0 = clock.now();
    const mono0 = clock.monoMs();
    for (let k = 0; k < 3; k++) {
      clock.advance(mono0 + k * 1_000 - clock.monoMs());
      await t.tick(mono0 + k * 1_000);
    }
    t.flushHistory();
    expect(t.historySince(wall0 - 1_000, 'test_jitter_ratio', 100).samples.map((s) => Date.parse(s.ts) - wall0)).toEqual([7, 1_007, 2_007]);
  });

  it('a collector that throws and one that hangs do not stop the others; each is reported once', async () => {
    const t = make();
    t.addCollector({
      name: 'broken',
      intervalMs: 1_000,
      timeoutMs: 50,
      collect: () => {
        throw new Error('EACCES: /proc/secret');
      },
    });
    t.addCollector({ name: 'stuck', intervalMs: 1_000, timeoutMs: 30, collect: () => new Promise<void>(() => undefined) });
    await t.start();
    try {
      await ticks(t, 8);
      expect(t.window('memory_available_bytes').length).toBeGreaterThanOrEqual(7);
      expect(kinds('telemetry.collector_failed').sort()).toEqual(['telemetry.collector_failed:broken', 'telemetry.collector_failed:stuck']);
      expect(t.value('telemetry_collector_up', { collector: 'broken' })).toBe(0);
      expect(t.value('telemetry_collector_errors_total', { collector: 'broken' })).toBeGreaterThanOrEqual(2);
      await ticks(t, 5);
      const health = t.health();
      expect(health.deductions.find((d) => d.input === 'collector_failure')).toMatchObject({ points: 10 });
      expect(health.score).toBe(90);
    } finally {
      await t.stop();
    }
  });

  it('reads RSS and CPU of each service’s whole process group, and scores failed services and restarts', async () => {
    const child = spawn('sh', ['-c', 'sleep 30 & sleep 30 & wait'], { detached: true, stdio: 'ignore' });
    children.push(child);
    const pid = child.pid as number;
    let restarts = 0;
    const services = (): ServiceInfo[] => [
      { name: 'camera', pid, state: 'running', restarts, uptime_s: 12, last_exit: null },
      { name: 'uplink', pid: null, state: 'failed', restarts: 0, uptime_s: 0, last_exit: { code: null, signal: 'SIGKILL' } },
    ];
    const t = make({}, services);
    await t.start();
    try {
      // Let the shell start both sleeps.
      for (let i = 0; i < 100 && (t.value('service_processes', { service: 'camera' }) ?? 0) < 3; i++) {
        await new Promise((r) => setTimeout(r, 20));
        await ticks(t, 1);
      }
      expect(t.value('service_processes', { service: 'camera' })).toBe(3);
      expect(t.value('service_rss_bytes', { service: 'camera' })).toBeGreaterThan(100_000);
      expect(t.value('service_cpu_seconds_total', { service: 'camera' })).toBeGreaterThanOrEqual(0);
      expect(t.value('service_up', { service: 'camera' })).toBe(1);
      expect(t.value('service_up', { service: 'uplink' })).toBe(0);
      expect(t.value('service_last_exit_code', { service: 'uplink' })).toBe(137);
      expect(t.value('service_rss_bytes', { service: 'uplink' })).toBe(0);
      restarts = 3;
      await ticks(t, 6);
      const h = t.health();
      expect(h.deductions.map((d) => [d.input, d.points])).toEqual([
        ['service_failed', 20],
        ['service_restart', 15],
      ]);
      expect(h.score).toBe(65);
      expect(t.value('health_score')).toBe(65);
    } finally {
      await t.stop();
    }
  });

  it('refuses a label explosion with one event per metric and stays bounded', async () => {
    const base = config().collectors;
    const only = Object.fromEntries(Object.entries(base).map(([k, v]) => [k, { ...v, enabled: k === 'queues' }])) as TelemetryConfig['collectors'];
    const t = make({ max_series: 60, collectors: only });
    await t.start();
    try {
      for (let i = 0; i < 500; i++) t.registerQueue(`q${i}`, () => i);
      await ticks(t, 3);
      expect(t.registry.seriesCount).toBe(60);
      const refused = kinds('telemetry.series_refused');
      expect(refused.filter((k) => k.endsWith(':queue_depth'))).toHaveLength(1);
      expect(new Set(refused).size).toBe(refused.length);
    } finally {
      await t.stop();
    }
  });

  it('exposes every metric in the Prometheus text format with waveos_ names', async () => {
    const t = make();
    await t.start();
    try {
      await ticks(t, 3);
      const expo = await buildExposition(t.registry);
      const text = await expo.metrics();
      expo.close();
      const fams = parsePromText(text);
      expect(fams.get('waveos_cpu_usage_ratio')?.type).toBe('gauge');
      expect(fams.get('waveos_net_receive_bytes_total')?.type).toBe('counter');
      expect(fams.get('waveos_telemetry_collector_duration_seconds')?.type).toBe('histogram');
      for (const name of fams.keys()) expect(name).toMatch(/^waveos_[a-z0-9_]+$/);
      for (const f of fams.values()) if (f.type === 'counter') expect(f.name).toMatch(/_total$/);
      const rx = fams.get('waveos_net_receive_bytes_total')?.samples.find((s) => s.labels.interface === 'lo');
      expect(rx?.value).toBe(t.value(METRICS.net_receive_bytes_total.name, { interface: 'lo' }));
    } finally {
      await t.stop();
    }
  });
});
