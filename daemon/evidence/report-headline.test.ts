import { describe, expect, it } from 'vitest';
import { type ReportData, type ReportEvent, type ReportSeries, pageData } from './report.js';
import { modeSpans, planCharts } from './report-charts.js';
import { type HeadlineEvent, dataField, headlineOf, incidentsOf } from './report-headline.js';
import { formatValue } from './report-units.js';

const BREAKER_REASON =
  'breaker crash-breaker opened: 5 failures within 1 min (threshold 5; the last: service.exited{code=3,pid=16074,restarts=4,service=hang,source=services,uptime_ms=1534}); it stays open 10 min';

function ev(ts: string, kind: string, source: string, data: Record<string, unknown>, reason = kind): HeadlineEvent {
  return { ts: `2026-12-03T${ts}.000Z`, kind, source, reason, data: JSON.stringify(data) };
}

const exits = [1, 2, 3, 4, 5].map((i) => ev(`07:31:1${i}`, 'service.exited', 'services', { service: 'hang', code: 3 }));
const storm: HeadlineEvent[] = [
  ev('07:20:00', 'daemon.start', 'daemon', {}),
  ...exits,
  ev('07:31:18', 'policy.breaker_open', 'policy:crash-breaker', { breaker: 'crash-breaker', failures_in_window: 5, threshold: 5, window_ms: 60_000 }, BREAKER_REASON),
  ev('07:31:18', 'mode.changed', 'policy:crash-breaker', { from: 'normal', to: 'safe' }),
  ev('07:31:18', 'service.stopped', 'policy:crash-breaker', { service: 'sensor' }),
  ev('07:31:18', 'service.stopped', 'policy:crash-breaker', { service: 'uplink' }),
];

describe('the report headline', () => {
  it('names the breaker, its cause, the mode it left the device in and the services it stopped', () => {
    expect(headlineOf(storm)).toBe('Breaker crash-breaker opened at 07:31:18 after 5 exits of hang in 60 s; device in safe mode since; 2 services stopped');
  });

  it('reads the cause from the reason when the data was cut short', () => {
    const cut = storm.map((e) => (e.kind === 'policy.breaker_open' ? { ...e, data: `${JSON.stringify({ breaker: 'crash-breaker', failures_in_window: 5 }).slice(0, 30)}…` } : e));
    expect(headlineOf(cut)).toMatch(/^Breaker crash-breaker opened at 07:31:18 after 5 exits of hang in 60 s;/);
  });

  it('says when the device left the mode again and counts a service started again as not stopped', () => {
    const later = [...storm, ev('07:41:18', 'service.started', 'policy:crash-breaker', { service: 'uplink' }), ev('07:41:19', 'mode.changed', 'policy:crash-breaker', { from: 'safe', to: 'normal' })];
    expect(headlineOf(later)).toBe('Breaker crash-breaker opened at 07:31:18 after 5 exits of hang in 60 s; device in safe mode until 07:41:19; 1 service stopped');
  });

  it('puts the newest incident first and counts the earlier ones', () => {
    const events = [
      ev('07:10:00', 'recovery.degrade', 'recovery', { service: 'pump', failures_in_window: 5, window_ms: 60_000, mode_to: 'degraded' }),
      ev('07:10:00', 'mode.changed', 'recovery', { from: 'normal', to: 'degraded' }),
      ...storm.slice(1),
    ];
    const incidents = incidentsOf(events);
    expect(incidents.map((i) => i.kind)).toEqual(['policy.breaker_open', 'mode.changed', 'recovery.degrade']);
    expect(incidents[2]?.text).toBe('Crash loop of pump at 07:10:00: 5 failures in 60 s');
    expect(incidents[1]?.text).toMatch(/^Device entered degraded mode at 07:10:00 \(recovery\); until 07:31:18/);
    expect(headlineOf(events)).toMatch(/^Breaker crash-breaker .* \(and 2 earlier incidents\)$/);
  });

  it('does not count a mode change the breaker asked for, nor a return to normal, as an incident of its own', () => {
    const back = [...storm, ev('07:41:19', 'mode.changed', 'policy:crash-breaker', { from: 'safe', to: 'normal' })];
    expect(incidentsOf(back).map((i) => i.kind)).toEqual(['policy.breaker_open']);
  });

  it('says so when nothing happened', () => {
    expect(headlineOf(exits.slice(0, 2))).toBe('No incident in this window: no breaker opened, no crash loop, no rollback (2 events listed).');
  });

  it('reads fields from cut JSON', () => {
    expect(dataField('{"a":"x\\"y","n":-4.5,"b":tru…', 'n')).toBe(-4.5);
    expect(dataField('{"a":"x","n":1', 'a')).toBe('x');
    expect(dataField('{"a":"x', 'a')).toBeUndefined();
  });
});

function series(name: string, unit: string, avg: (number | null)[], labels = ''): ReportSeries {
  return { name, unit, labels, avg, max: avg };
}

describe('the report charts', () => {
  const start = Date.parse('2026-12-03T07:00:00.000Z');
  const input = (s: ReportSeries[]) => ({ start_ms: start, bucket_ms: 1000, buckets: 900, series: s });
  const win = { since_ms: start, until_ms: start + 900_000 };
  const every = (n: number, from: number, to: number, v: (i: number) => number): (number | null)[] =>
    Array.from({ length: 900 }, (_, i) => (i >= from && i <= to && (i - from) % n === 0 ? v(i) : null));

  it('fits the window to the samples, not to the quarter of an hour before them', () => {
    const plan = planCharts(input([series('cpu_usage_ratio', 'ratio', every(1, 800, 899, (i) => i / 1000))]), win);
    expect(plan.from_ms).toBe(start + 800_000);
    expect(plan.to_ms).toBe(start + 900_000);
  });

  it('keeps an incident after the last sample in view', () => {
    const plan = planCharts(input([series('cpu_usage_ratio', 'ratio', every(1, 800, 850, (i) => i / 1000))]), win, [start + 870_000]);
    expect(plan.to_ms).toBe(start + 870_000);
  });

  it('draws a series sampled every 5 s across its empty buckets, breaking only on a long silence', () => {
    const health = every(5, 600, 899, (i) => (i < 700 ? 100 : 80));
    for (let i = 720; i < 800; i++) health[i] = null;
    const chart = planCharts(input([series('health_score', 'points', health)]), win).charts[0];
    expect(chart?.name).toBe('health_score');
    const s = chart?.series[0];
    expect(s?.samples).toBe(60 - 16);
    expect(s?.y.filter((v) => v !== null)).toHaveLength(60 - 16);
    // One break, inside the silence (715 → 800), none between samples 5 s apart.
    expect(s?.breaks).toHaveLength(1);
    const at = chart?.x[s?.breaks[0] as number] as number;
    expect(at * 1000).toBeGreaterThan(start + 715_000);
    expect(at * 1000).toBeLessThan(start + 800_000);
  });

  it('puts key metrics first and lists the metrics that kept one value instead of drawing them', () => {
    const plan = planCharts(
      input([
        series('net_up', 'bool', every(1, 800, 899, () => 1)),
        series('memory_used_ratio', 'ratio', every(1, 800, 899, (i) => i / 2000)),
        series('health_score', 'points', every(5, 800, 899, (i) => 100 - (i - 800) / 5)),
        series('zz_custom', 'count', every(1, 800, 899, (i) => i)),
      ]),
      win,
    );
    expect(plan.charts.map((c) => c.name)).toEqual(['health_score', 'memory_used_ratio', 'zz_custom']);
    expect(plan.flat).toEqual([{ name: 'net_up', unit: 'bool', value: 1, series: 1 }]);
  });

  it('spans the device modes over the window from mode.changed events', () => {
    const e = (ts: string, from: string, to: string) => ({ ts, kind: 'mode.changed', data: JSON.stringify({ from, to }) });
    const spans = modeSpans([e('2026-12-03T07:10:00.000Z', 'normal', 'safe'), e('2026-12-03T07:12:00.000Z', 'safe', 'normal')], start, start + 900_000);
    expect(spans).toEqual([
      { mode: 'normal', from_ms: start, to_ms: start + 600_000 },
      { mode: 'safe', from_ms: start + 600_000, to_ms: start + 720_000 },
      { mode: 'normal', from_ms: start + 720_000, to_ms: start + 900_000 },
    ]);
    expect(modeSpans([], start, start + 1000)).toEqual([{ mode: 'normal', from_ms: start, to_ms: start + 1000 }]);
  });
});

describe('the report units', () => {
  it('writes bytes in binary units, ratios in %, seconds in ms/s/min', () => {
    expect(formatValue(3_400_000_000, 'bytes')).toBe('3.17 GiB');
    expect(formatValue(52_428_800, 'bytes')).toBe('50 MiB');
    expect(formatValue(512, 'bytes')).toBe('512 B');
    expect(formatValue(0.253, 'ratio')).toBe('25.3 %');
    expect(formatValue(0.0042, 'seconds')).toBe('4.2 ms');
    expect(formatValue(300, 'seconds')).toBe('5 min');
    expect(formatValue(80, 'points')).toBe('80');
    expect(formatValue(123_456, 'count')).toBe('123 k');
    expect(formatValue(null, 'bytes')).toBe('');
  });

  it('works from its own source, as the page inlines it', () => {
    const inlined = new Function(`return (${formatValue.toString()})`)() as typeof formatValue;
    expect(inlined(1536, 'bytes')).toBe('1.5 KiB');
  });
});

describe('the page data', () => {
  it('opens with the headline, marks the charts only with incidents and replaces the bucket grid with the plan', () => {
    const start = Date.parse('2026-12-03T07:20:00.000Z');
    const rev = (e: HeadlineEvent, seq: number): ReportEvent => ({ ...e, seq, severity: 'warning', hl: e.kind.startsWith('policy.') ? 'policy' : undefined });
    const events = storm.map(rev);
    const data = {
      window: { since: '2026-12-03T07:05:00.000Z', until: '2026-12-03T07:32:00.000Z' },
      chart: { start_ms: start, bucket_ms: 1000, buckets: 720, series: [series('health_score', 'points', Array.from({ length: 720 }, (_, i) => (i % 5 === 0 ? 100 - i / 36 : null)))] },
      markers: events.filter((e) => e.kind !== 'daemon.start'),
      events,
    } as unknown as ReportData;
    const page = pageData(data);
    expect(page.headline).toMatch(/^Breaker crash-breaker opened at 07:31:18/);
    expect(page.other_markers.map((m) => m.kind)).not.toContain('policy.breaker_open');
    expect(page.other_markers.map((m) => m.kind)).toContain('service.exited');
    expect(page.plan.from_ms).toBe(start);
    expect(page.modes.map((m) => m.mode)).toEqual(['normal', 'safe']);
    expect('chart' in page).toBe(false);
  });
});
