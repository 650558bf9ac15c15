/** One series of the pack's window, as the report draws it. */
export interface ReportSeries {
  name: string;
  unit: string;
  labels: string;
  /** Per bucket of the window: the mean and the highest value, or null where no sample fell. */
  avg: (number | null)[];
  max: (number | null)[];
}


/** The chart summary the pack builder makes: per bucket of the window, the mean of each series. */
export interface ChartInput {
  start_ms: number;
  bucket_ms: number;
  buckets: number;
  series: ReportSeries[];
}

export interface PlannedSeries {
  label: string;
  /** One value per x; null where this series has no sample there (the line is drawn across). */
  y: (number | null)[];
  /** Indexes into x where the line breaks: the series was silent for much longer than it samples. */
  breaks: number[];
  samples: number;
}

export interface PlannedChart {
  name: string;
  unit: string;
  /** Seconds since the epoch, ascending: the buckets where any of the chart's series has a sample. */
  x: number[];
  series: PlannedSeries[];
}

export interface ChartPlan {
  /** The window the charts show, fitted to the samples (and the incidents), in ms. */
  from_ms: number;
  to_ms: number;
  charts: PlannedChart[];
  /** Metrics whose every series kept one value: listed, not drawn. */
  flat: { name: string; unit: string; value: number; series: number }[];
}

/** What a field engineer looks at first. */
const KEY_ORDER = [/^health_score$/, /health/, /cpu/, /mem|rss|heap/, /restart/, /service_up|last_exit/, /load/, /disk|filesystem|fs/, /temp/, /net/];
const MAX_CHARTS = 24;
const MAX_SERIES_PER_CHART = 8;
/** A silence this many sample intervals long breaks the line; shorter ones are drawn across. */
const GAP_INTERVALS = 4;

function rank(name: string): number {
  const i = KEY_ORDER.findIndex((re) => re.test(name));
  return i < 0 ? KEY_ORDER.length : i;
}

function sampled(s: ReportSeries): number[] {
  const idx: number[] = [];
  s.avg.forEach((v, i) => {
    if (v !== null) idx.push(i);
  });
  return idx;
}

/** The usual spacing of a series' samples, in buckets: the median step. */
function intervalOf(idx: readonly number[]): number {
  const steps = idx.slice(1).map((v, i) => v - (idx[i] as number));
  if (steps.length === 0) return 1;
  steps.sort((a, b) => a - b);
  return steps[Math.floor(steps.length / 2)] as number;
}

function longGaps(idx: readonly number[]): [number, number][] {
  const limit = Math.max(3, GAP_INTERVALS * intervalOf(idx));
  const gaps: [number, number][] = [];
  for (let i = 1; i < idx.length; i++) if ((idx[i] as number) - (idx[i - 1] as number) > limit) gaps.push([idx[i - 1] as number, idx[i] as number]);
  return gaps;
}

function planChart(name: string, group: ReportSeries[], input: ChartInput): PlannedChart {
  const ss = group.slice(0, MAX_SERIES_PER_CHART);
  const perSeries = ss.map((s) => ({ s, idx: sampled(s) }));
  const xs = new Set<number>();
  for (const { idx } of perSeries) {
    for (const i of idx) xs.add(i);
    // A bucket inside each long silence, so the line can break there.
    for (const [a] of longGaps(idx)) xs.add(a + 1);
  }
  const order = [...xs].sort((a, b) => a - b);
  const series = perSeries.map(({ s, idx }) => {
    const gaps = longGaps(idx);
    const breaks: number[] = [];
    const y = order.map((b, j) => {
      const v = s.avg[b] ?? null;
      if (v === null && gaps.some(([a, c]) => b > a && b < c)) breaks.push(j);
      return v;
    });
    return { label: s.labels || name, y, breaks, samples: idx.length };
  });
  return { name, unit: ss[0]?.unit ?? '', x: order.map((b) => (input.start_ms + (b + 0.5) * input.bucket_ms) / 1000), series };
}

function isFlat(group: ReportSeries[]): boolean {
  return group.every((s) => {
    const vals = s.avg.filter((v): v is number => v !== null);
    return vals.length > 0 && vals.every((v) => v === vals[0]);
  });
}

/** The span of buckets holding any sample, as ms; undefined when there is none. */
function dataSpan(input: ChartInput): [number, number] | undefined {
  let first = Infinity;
  let last = -Infinity;
  for (const s of input.series) {
    const idx = sampled(s);
    if (idx.length === 0) continue;
    first = Math.min(first, idx[0] as number);
    last = Math.max(last, idx[idx.length - 1] as number);
  }
  if (!Number.isFinite(first)) return undefined;
  return [input.start_ms + first * input.bucket_ms, input.start_ms + (last + 1) * input.bucket_ms];
}

/**
 * Which charts the report draws and how: only metrics that moved, key ones first, each series on the
 * buckets it has samples in, its line broken only on long silences; the window fitted to the data and
 * to `incidentsMs` (times that must stay in view), within the pack's window [start, end].
 */
export function planCharts(input: ChartInput, window: { since_ms: number; until_ms: number }, incidentsMs: readonly number[] = []): ChartPlan {
  const byName = new Map<string, ReportSeries[]>();
  for (const s of input.series) {
    if (!s.avg.some((v) => v !== null)) continue;
    byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  }
  const names = [...byName.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
  const flat: ChartPlan['flat'] = [];
  const moved: string[] = [];
  for (const n of names) {
    const group = byName.get(n) as ReportSeries[];
    if (isFlat(group)) flat.push({ name: n, unit: group[0]?.unit ?? '', value: group[0]?.avg.find((v) => v !== null) ?? 0, series: group.length });
    else moved.push(n);
  }
  const span = dataSpan(input);
  const inWindow = incidentsMs.filter((t) => t >= window.since_ms && t <= window.until_ms);
  const from = Math.min(span?.[0] ?? Infinity, ...inWindow);
  const to = Math.max(span?.[1] ?? -Infinity, ...inWindow);
  const fitted = Number.isFinite(from) && Number.isFinite(to) && to > from ? { from_ms: from, to_ms: to } : { from_ms: window.since_ms, to_ms: window.until_ms };
  return { ...fitted, charts: moved.slice(0, MAX_CHARTS).map((n) => planChart(n, byName.get(n) as ReportSeries[], input)), flat };
}

/** A stretch of time in one device mode, in ms. */
export interface ModeSpan {
  mode: string;
  from_ms: number;
  to_ms: number;
}

/** The device modes over [from, to] from mode.changed events (seq order); before the first, its `from`. */
export function modeSpans(events: readonly { ts: string; kind: string; data: string }[], from: number, to: number): ModeSpan[] {
  const changes = events
    .filter((e) => e.kind === 'mode.changed')
    .map((e) => ({ t: Date.parse(e.ts), from: /"from":"([^"]*)"/.exec(e.data)?.[1], to: /"to":"([^"]*)"/.exec(e.data)?.[1] }));
  const spans: ModeSpan[] = [];
  let mode = changes[0]?.from ?? 'normal';
  let at = from;
  for (const c of changes) {
    if (c.to === undefined) continue;
    const t = Math.min(Math.max(c.t, from), to);
    if (t > at) spans.push({ mode, from_ms: at, to_ms: t });
    mode = c.to;
    at = t;
  }
  if (to > at) spans.push({ mode, from_ms: at, to_ms: to });
  return spans;
}
