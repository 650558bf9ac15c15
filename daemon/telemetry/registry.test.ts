import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, silentLogger } from '../core/index.js';
import { CHUNK_MAX_SAMPLES, type EventInput, Journal } from '../journal/index.js';
import { EventRates, type HealthWeights, healthScore } from './health.js';
import { History } from './history.js';
import { readHistory, sampleBatches } from './history-query.js';

const stored = (j: Journal): { ts_ms: number; value: number }[] => [...sampleBatches(j, { sinceMs: 0, untilMs: Number.MAX_SAFE_INTEGER })].flat();
import { Registry } from './registry.js';
import { selfCollector } from './collectors.js';
import { METRICS } from './metrics.js';
import { ProcFiles } from './procfs.js';

describe('Registry', () => {
  it('keeps current values and a window of recent points per series', () => {
    const clock = new FakeClock();
    const r = new Registry({ clock, maxSeries: 100, windowPoints: 3 });
    r.define({ name: 'x_bytes', type: 'gauge', unit: 'bytes', help: 'x', labelNames: ['k'] });
    for (let i = 1; i <= 5; i++) {
      r.set('x_bytes', { k: 'a' }, i * 10);
      clock.advance(1_000);
    }
    expect(r.current('x_bytes', { k: 'a' })).toBe(50);
    expect(r.current('x_bytes', { k: 'b' })).toBeUndefined();
    expect(r.window('x_bytes', { k: 'a' }).map((p) => p.value)).toEqual([30, 40, 50]);
    expect(r.window('x_bytes', { k: 'a' }, 2_000).map((p) => p.value)).toEqual([40, 50]);
  });

  it('refuses series beyond the cap, telling once per metric, and does not grow', () => {
    const clock = new FakeClock();
    const refused: string[] = [];
    const r = new Registry({ clock, maxSeries: 10, windowPoints: 4, onRefused: (m) => refused.push(m) });
    r.define({ name: 'req_total', type: 'counter', unit: 'count', help: 'x', labelNames: ['path'] });
    r.define({ name: 'other', type: 'gauge', unit: 'count', help: 'x', labelNames: ['id'] });
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) if (r.inc('req_total', { path: `/p/${i}` })) accepted++;
    for (let i = 0; i < 100; i++) r.set('other', { id: String(i) }, i);
    expect(accepted).toBe(10);
    expect(r.seriesCount).toBe(10);
    expect(refused).toEqual(['req_total', 'other']);
    // Existing series still work at the cap.
    expect(r.inc('req_total', { path: '/p/1' }, 2)).toBe(true);
    expect(r.current('req_total', { path: '/p/1' })).toBe(3);
  });

  it('types are enforced: counters never go down, names carry their conventions', () => {
    const r = new Registry({ clock: new FakeClock(), maxSeries: 10, windowPoints: 0 });
    expect(() => r.define({ name: 'bad', type: 'counter', unit: 'count', help: '', labelNames: [] })).toThrow(/_total/);
    expect(() => r.define({ name: 'Bad-Name', type: 'gauge', unit: 'count', help: '', labelNames: [] })).toThrow(/snake/);
    r.define({ name: 'c_total', type: 'counter', unit: 'count', help: '', labelNames: [] });
    r.set('c_total', {}, 5);
    r.set('c_total', {}, 3);
    expect(r.current('c_total')).toBe(5);
    r.define({ name: 'h_seconds', type: 'histogram', unit: 'seconds', help: '', labelNames: [], buckets: [0.1, 1] });
    r.observe('h_seconds', {}, 0.05);
    r.observe('h_seconds', {}, 0.5);
    expect(r.histogram('h_seconds')[0]).toMatchObject({ counts: [1, 2], count: 2, sum: 0.55 });
    expect(r.snapshot().map((s) => s.name)).toEqual(['c_total', 'h_seconds_count', 'h_seconds_sum']);
    expect(() => r.set('h_seconds', {}, 1)).toThrow(/histogram/);
  });

  it('drainUpdated hands each changed gauge/counter series to the history once', () => {
    const r = new Registry({ clock: new FakeClock(), maxSeries: 10, windowPoints: 0 });
    r.define({ name: 'g', type: 'gauge', unit: 'count', help: '', labelNames: [] });
    r.set('g', {}, 1);
    r.set('g', {}, 2);
    expect(r.drainUpdated().map((s) => s.value)).toEqual([2]);
    expect(r.drainUpdated()).toEqual([]);
  });
});

const W: HealthWeights = {
  service_restart: { points: 5, max: 25 },
  service_failed: { points: 20, max: 40 },
  budget_violation: { points: 5, max: 20 },
  breaker_trip: { points: 15, max: 30 },
  error_event_rate: { points: 2, max: 20 },
  disk_headroom: { points: 30, below: 0.1 },
  collector_failure: { points: 5, max: 15 },
};
const CLEAN = { service_restarts: 0, failed_services: [], budget_violations: 0, breaker_trips: 0, error_events_per_minute: 0, disk_free_ratio: 0.5, failing_collectors: [] };

describe('health score', () => {
  it('is 100 with nothing wrong, and explains every deduction with capped, weighted points', () => {
    expect(healthScore(CLEAN, W, 600)).toEqual({ score: 100, window_s: 600, deductions: [], notes: [] });
    // Restarts someone asked for cost nothing, and the report says they were seen.
    const asked = healthScore({ ...CLEAN, requested_restarts: 4 }, W, 600);
    expect([asked.score, asked.deductions]).toEqual([100, []]);
    expect(asked.notes).toEqual(['4 restart(s) in the last 600 s were asked for (operator, policy, bundle or mode change) and cost no points']);
    const r = healthScore({ ...CLEAN, service_restarts: 7, failed_services: ['cam'], disk_free_ratio: 0.05, failing_collectors: ['net'] }, W, 600);
    expect(r.deductions.map((d) => [d.input, d.points])).toEqual([
      ['service_restart', 25],
      ['service_failed', 20],
      ['disk_headroom', 15],
      ['collector_failure', 5],
    ]);
    expect(r.score).toBe(35);
    expect(r.deductions[1]?.why).toMatch(/cam/);
  });

  it('never goes below 0', () => {
    const r = healthScore(
      { service_restarts: 99, failed_services: ['a', 'b', 'c'], budget_violations: 9, breaker_trips: 9, error_events_per_minute: 50, disk_free_ratio: 0, failing_collectors: ['x', 'y', 'z', 'w'] },
      W,
      600,
    );
    expect(r.score).toBe(0);
  });

  it('EventRates counts per severity per minute and the kinds the score weighs, within the window', () => {
    const rates = new EventRates(60_000);
    const ev = (mono: number, kind: string, severity: 'info' | 'error' | 'warning') =>
      ({ v: 1, seq: 1, ts: '', mono_ms: mono, run_id: '', boot_id: '', kind, severity, source: 's', reason: 'r', data: {}, prev_hash: '', hash: '' }) as const;
    rates.record([ev(1_000, 'a', 'info'), ev(2_000, 'b', 'error'), ev(3_000, 'policy.budget_exceeded', 'warning'), ev(4_000, 'policy.breaker_open', 'warning')]);
    expect(rates.perMinute(10_000)).toMatchObject({ info: 1, error: 1, warning: 2 });
    expect(rates.inWindow('budget', 10_000)).toBe(1);
    expect(rates.inWindow('breaker', 10_000)).toBe(1);
    expect(rates.perMinute(70_000)).toMatchObject({ info: 0, error: 0, warning: 0 });
    expect(rates.inWindow('error', 70_000)).toBe(0);
    expect(rates.totals.error).toBe(1);
  });
});

describe('History', () => {
  let dir: string;
  let journal: Journal;
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'telemetry-hist-'));
    journal = Journal.openWriter(join(dir, 'j.db'), { clock, runId: 'r', bootId: 'b' });
  });
  afterEach(() => {
    journal.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function feed(h: History, r: Registry, seconds: number, value: (i: number) => number): void {
    for (let i = 0; i < seconds; i++) {
      r.set('cpu_usage_ratio', { cpu: 'total' }, value(i));
      h.capture(r.drainUpdated());
      clock.advance(1_000);
    }
  }

  function registry(): Registry {
    const r = new Registry({ clock, maxSeries: 100, windowPoints: 0 });
    r.define({ name: 'cpu_usage_ratio', type: 'gauge', unit: 'ratio', help: '', labelNames: ['cpu'] });
    return r;
  }

  it('writes raw samples, and makes one-minute min/avg/max/last aggregates of them when retention deletes them', () => {
    const events: EventInput[] = [];
    const h = new History({ journal, clock, log: silentLogger(), emit: (e) => events.push(e), rawRetentionMs: 86_400_000, aggregateRetentionMs: 30 * 86_400_000, quotaBytes: 1e9 });
    const start = clock.now();
    feed(h, registry(), 150, (i) => i % 60);
    h.flush(true);
    const all = readHistory(journal, { sinceMs: start, limit: 10_000 });
    expect(all.samples).toHaveLength(150);
    expect(all.aggregates).toEqual([]); // raw covers the whole range
    expect(journal.aggregatesSince({ sinceMs: 0, limit: 100 })).toEqual([]); // none while the raw samples are there
    clock.advance(86_400_000 + 120_000);
    expect(h.maintain().raw).toBeGreaterThan(0);
    expect(journal.metricsFootprint().raw_rows).toBe(0);
    const aggs = journal.aggregatesSince({ sinceMs: 0, limit: 100 });
    expect(aggs.map((a) => [a.count, a.min, a.max, a.last])).toEqual([
      [60, 0, 59, 59],
      [60, 0, 59, 59],
      [30, 0, 29, 29],
    ]);
    expect(aggs[0]?.avg).toBeCloseTo(29.5);
  });

  it('the quota keeps half for raw samples: aggregates over their half lose their oldest minutes, not the raw rows', () => {
    const h = new History({ journal, clock, log: silentLogger(), emit: () => undefined, rawRetentionMs: 86_400_000, aggregateRetentionMs: 86_400_000 * 365, quotaBytes: 200_000 });
    const from = Math.floor(clock.now() / 60_000) * 60_000 - 5_000 * 60_000;
    const old = Array.from({ length: 4_000 }, (_, i) => ({ minute_ms: from + i * 60_000, name: 'cpu_usage_ratio', unit: 'ratio', labels: { cpu: 'total' }, min: 0, avg: 0, max: 0, last: 0, count: 60 }));
    journal.appendAggregates(old);
    feed(h, registry(), 100, (i) => i);
    h.flush();
    const before = journal.metricsFootprint();
    expect(before.aggregate_bytes).toBeGreaterThan(100_000);
    const r = h.maintain();
    const after = journal.metricsFootprint();
    expect(r.quota_raw).toBe(0);
    expect(r.quota_aggregates).toBeGreaterThan(0);
    expect(after.raw_rows).toBe(before.raw_rows);
    expect(after.bytes).toBeLessThanOrEqual(200_000);
    expect(after.aggregate_oldest_ms).toBeGreaterThan(from);
  });

  it('merges a minute written twice (a restart mid-minute) instead of duplicating it', () => {
    const row = { minute_ms: 60_000, name: 'm', unit: 'count', labels: { a: '1' } };
    journal.appendAggregates([{ ...row, min: 1, avg: 2, max: 3, last: 3, count: 2 }]);
    journal.appendAggregates([{ ...row, min: 0, avg: 5, max: 9, last: 7, count: 2 }]);
    expect(journal.aggregatesSince({ sinceMs: 0, limit: 10 })).toEqual([{ ...row, min: 0, avg: 3.5, max: 9, last: 7, count: 4 }]);
  });

  it('skips unchanged values but writes them at least every unchanged_every', () => {
    const h = new History({ journal, clock, log: silentLogger(), emit: () => undefined, rawRetentionMs: 86_400_000, aggregateRetentionMs: 86_400_000, quotaBytes: 1e9, unchangedEveryMs: 10_000 });
    feed(h, registry(), 30, () => 0.5);
    h.flush();
    expect(stored(journal).map((s) => s.value)).toEqual([0.5, 0.5, 0.5]);
  });

  it('retention drops raw rows after their period but keeps minutes; the quota trims the oldest first', () => {
    const events: EventInput[] = [];
    const h = new History({ journal, clock, log: silentLogger(), emit: (e) => events.push(e), rawRetentionMs: 120_000, aggregateRetentionMs: 3_600_000, quotaBytes: 1e9 });
    const start = clock.now();
    // Two and a half chunks' worth at 1 Hz.
    feed(h, registry(), 4_500, (i) => i);
    h.flush(true);
    const before = journal.sampleCount();
    const pruned = h.maintain();
    expect(pruned.raw).toBeGreaterThan(0);
    // Whole chunks go: what is left starts at most one chunk before the cut.
    expect(before - journal.sampleCount()).toBeGreaterThan(4_500 - 120 - CHUNK_MAX_SAMPLES);
    const left = stored(journal);
    expect(left[0]?.ts_ms).toBeGreaterThanOrEqual(clock.now() - 120_000 - CHUNK_MAX_SAMPLES * 1000);
    // A query from the start gets the older part as minutes and the newer part raw.
    const q = readHistory(journal, { sinceMs: start, limit: 10_000 });
    expect(q.aggregates.length).toBeGreaterThanOrEqual(7);
    expect(q.samples.length).toBe(left.length);

    // Chunks are small: a quota of half of what is stored now.
    const quota = Math.floor(journal.metricsFootprint().bytes / 2);
    const tight = new History({ journal, clock, log: silentLogger(), emit: (e) => events.push(e), rawRetentionMs: 86_400_000, aggregateRetentionMs: 86_400_000, quotaBytes: quota });
    const r = tight.maintain();
    expect(r.quota_raw + r.quota_aggregates).toBeGreaterThan(0);
    expect(journal.metricsFootprint().bytes).toBeLessThanOrEqual(quota);
    expect(events.filter((e) => e.kind === 'telemetry.quota_pruned')).toHaveLength(1);
  });
});

describe('selfCollector', () => {
  it('reports event-loop lag beyond the histogram resolution: an idle loop lags about 0, not the sampling step', async () => {
    const clock = new FakeClock();
    const registry = new Registry({ clock, maxSeries: 100, windowPoints: 3 });
    for (const def of Object.values(METRICS)) registry.define(def);
    const env = { registry, clock, emit: () => undefined, note: () => undefined, procDir: '/proc', sysDir: '/sys', files: new ProcFiles() };
    const self = selfCollector(env, '/proc', 250);
    const q99 = { quantile: '0.99' };
    await new Promise((r) => setTimeout(r, 1_300));
    self.collect();
    // Reported with the resolution still in, an idle loop would read 0.25 s.
    expect(registry.current(METRICS.daemon_event_loop_lag_seconds.name, q99)).toBeLessThan(0.2);
    self.stop();
  });
});
