import { type Clock, canonicalJson } from '../core/index.js';

export type MetricType = 'gauge' | 'counter' | 'histogram';
export type Labels = Readonly<Record<string, string>>;

export interface MetricDef {
  /** Prometheus style without the `waveos_` prefix: the unit in the name, `_total` on counters. */
  name: string;
  type: MetricType;
  /** The unit written to metrics.csv: bytes, seconds, ratio, celsius, count, per_minute, points. */
  unit: string;
  help: string;
  labelNames: readonly string[];
  /** Histogram bucket upper bounds. */
  buckets?: readonly number[];
}

export interface Point {
  ts_ms: number;
  value: number;
}

export interface SeriesValue {
  /** Identity of the series: metric name and labels. */
  key: string;
  name: string;
  type: MetricType;
  unit: string;
  labels: Labels;
  /** The labels as canonical JSON, computed once per series (the journal stores this form). */
  labels_json: string;
  value: number;
  ts_ms: number;
}

interface Series {
  readonly key: string;
  readonly labels: Labels;
  readonly labelsJson: string;
  value: number;
  ts_ms: number;
  /** Ring of recent points (the window the policy engine reads). */
  readonly ringTs: Float64Array;
  readonly ringVal: Float64Array;
  pos: number;
  len: number;
  /** Histograms: cumulative counts per bucket, sum and count. */
  hist?: { counts: Float64Array; sum: number; count: number };
}

interface Metric {
  readonly def: MetricDef;
  readonly series: Map<string, Series>;
  refusedOnce: boolean;
}

export interface RegistryOptions {
  clock: Clock;
  /** Hard cap on series over all metrics: beyond it new label sets are refused. */
  maxSeries: number;
  /** Points kept per series for `window()`. */
  windowPoints: number;
  /** Called once per metric the first time one of its new series is refused. */
  onRefused?: (metric: string, labels: Labels, seriesCount: number) => void;
}

export function labelKey(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  if (keys.length > 1) keys.sort();
  let k = '';
  for (const name of keys) k += `${name}\u0001${labels[name]}\u0002`;
  return k;
}

function sameLabels(a: Labels, want: Labels): boolean {
  for (const [k, v] of Object.entries(want)) if (a[k] !== v) return false;
  return true;
}

/**
 * Typed gauges, counters and histograms with labels, a hard cap on series, the current value of each
 * series and a short window of recent points. Memory is bounded: series × windowPoints × 16 bytes.
 */
export class Registry {
  private readonly metrics = new Map<string, Metric>();
  private readonly dirty = new Set<Series>();
  private readonly dirtyMetric = new Map<Series, Metric>();
  private count = 0;
  private readonly observers = new Set<(def: MetricDef, labels: Labels, value: number) => void>();

  constructor(private readonly opts: RegistryOptions) {}

  define(def: MetricDef): MetricDef {
    const have = this.metrics.get(def.name);
    if (have) {
      if (have.def.type !== def.type || have.def.unit !== def.unit) throw new Error(`metric ${def.name} is already defined as a ${have.def.type} in ${have.def.unit}`);
      return have.def;
    }
    if (!/^[a-z_][a-z0-9_]*$/.test(def.name)) throw new Error(`metric name "${def.name}" must be lower_snake_case`);
    if (def.type === 'counter' && !def.name.endsWith('_total')) throw new Error(`counter ${def.name} must end in _total`);
    this.metrics.set(def.name, { def, series: new Map(), refusedOnce: false });
    return def;
  }

  get seriesCount(): number {
    return this.count;
  }

  definitions(): MetricDef[] {
    return [...this.metrics.values()].map((m) => m.def);
  }

  /** Keys of label objects the collectors reuse from sample to sample: computed once per object. */
  private readonly keys = new WeakMap<Labels, string>();

  private keyOf(labels: Labels): string {
    let k = this.keys.get(labels);
    if (k === undefined) {
      k = labelKey(labels);
      // Only frozen objects can be trusted not to change behind the cache.
      if (Object.isFrozen(labels)) this.keys.set(labels, k);
    }
    return k;
  }

  private seriesFor(name: string, labels: Labels): { m: Metric; s: Series } | undefined {
    const m = this.metrics.get(name);
    if (!m) throw new Error(`metric ${name} is not defined`);
    const key = this.keyOf(labels);
    let s = m.series.get(key);
    if (!s) {
      if (this.count >= this.opts.maxSeries) {
        if (!m.refusedOnce) {
          m.refusedOnce = true;
          this.opts.onRefused?.(name, labels, this.count);
        }
        return undefined;
      }
      const n = this.opts.windowPoints;
      s = { key: `${name}\u0000${key}`, labels: { ...labels }, labelsJson: canonicalJson(labels), value: 0, ts_ms: 0, ringTs: new Float64Array(n), ringVal: new Float64Array(n), pos: 0, len: 0 };
      if (m.def.type === 'histogram') s.hist = { counts: new Float64Array((m.def.buckets ?? []).length), sum: 0, count: 0 };
      m.series.set(key, s);
      this.count++;
    }
    return { m, s };
  }

  private record(m: Metric, s: Series, value: number): void {
    const ts = this.opts.clock.now();
    s.value = value;
    s.ts_ms = ts;
    if (s.ringTs.length > 0) {
      s.ringTs[s.pos] = ts;
      s.ringVal[s.pos] = value;
      s.pos = (s.pos + 1) % s.ringTs.length;
      if (s.len < s.ringTs.length) s.len++;
    }
    this.dirty.add(s);
    this.dirtyMetric.set(s, m);
  }

  /** Sets a gauge, or a counter to a monotonic total kept by the caller. False if the series was refused. */
  set(name: string, labels: Labels, value: number): boolean {
    const r = this.seriesFor(name, labels);
    if (!r) return false;
    if (r.m.def.type === 'histogram') throw new Error(`metric ${name} is a histogram: use observe()`);
    if (r.m.def.type === 'counter' && value < r.s.value) value = r.s.value;
    this.record(r.m, r.s, value);
    return true;
  }

  inc(name: string, labels: Labels, by = 1): boolean {
    const r = this.seriesFor(name, labels);
    if (!r) return false;
    if (r.m.def.type !== 'counter') throw new Error(`metric ${name} is not a counter`);
    this.record(r.m, r.s, r.s.value + Math.max(0, by));
    return true;
  }

  observe(name: string, labels: Labels, value: number): boolean {
    const r = this.seriesFor(name, labels);
    if (!r) return false;
    const h = r.s.hist;
    if (!h) throw new Error(`metric ${name} is not a histogram`);
    const b = r.m.def.buckets ?? [];
    for (let i = 0; i < b.length; i++) if (value <= (b[i] as number)) h.counts[i] = (h.counts[i] as number) + 1;
    h.sum += value;
    h.count++;
    r.s.value = h.count;
    r.s.ts_ms = this.opts.clock.now();
    for (const o of this.observers) o(r.m.def, labels, value);
    return true;
  }

  /** Hears every histogram observation (the Prometheus exposition mirrors them). */
  onObserve(fn: (def: MetricDef, labels: Labels, value: number) => void): () => void {
    this.observers.add(fn);
    return () => this.observers.delete(fn);
  }

  /** Drops one series (an interface that went away); it stops being exported. */
  remove(name: string, labels: Labels): void {
    const m = this.metrics.get(name);
    const key = labelKey(labels);
    const s = m?.series.get(key);
    if (!m || !s) return;
    m.series.delete(key);
    this.dirty.delete(s);
    this.dirtyMetric.delete(s);
    this.count--;
  }

  /** Drops every series of a metric whose labels include `match`. */
  removeMatching(name: string, match: Labels): void {
    const m = this.metrics.get(name);
    if (!m) return;
    for (const s of [...m.series.values()]) if (sameLabels(s.labels, match)) this.remove(name, s.labels);
  }

  /** The current value of one series (histograms: the observation count). */
  current(name: string, labels: Labels = {}): number | undefined {
    const s = this.metrics.get(name)?.series.get(labelKey(labels));
    return s && s.ts_ms > 0 ? s.value : undefined;
  }

  /** Recent points of one series, oldest first; only those within `ms` of now when given. */
  window(name: string, labels: Labels = {}, ms?: number): Point[] {
    const s = this.metrics.get(name)?.series.get(labelKey(labels));
    if (!s) return [];
    const n = s.ringTs.length;
    const from = ms === undefined ? -Infinity : this.opts.clock.now() - ms;
    const out: Point[] = [];
    for (let i = 0; i < s.len; i++) {
      const j = (s.pos - s.len + i + n) % n;
      const ts = s.ringTs[j] as number;
      if (ts >= from) out.push({ ts_ms: ts, value: s.ringVal[j] as number });
    }
    return out;
  }

  /** Every series of a metric with its current value. */
  series(name: string): SeriesValue[] {
    const m = this.metrics.get(name);
    if (!m) return [];
    return [...m.series.values()].filter((s) => s.ts_ms > 0).map((s) => this.toValue(m, s));
  }

  /** Every series with a value, sorted by name. */
  snapshot(): SeriesValue[] {
    const out: SeriesValue[] = [];
    for (const m of [...this.metrics.values()].sort((a, b) => a.def.name.localeCompare(b.def.name))) {
      for (const s of m.series.values()) {
        if (s.ts_ms === 0) continue;
        if (s.hist) {
          out.push({ ...this.toValue(m, s), name: `${m.def.name}_count`, unit: 'count', value: s.hist.count });
          out.push({ ...this.toValue(m, s), name: `${m.def.name}_sum`, value: s.hist.sum });
        } else out.push(this.toValue(m, s));
      }
    }
    return out;
  }

  /** Histogram state for the exposition: cumulative bucket counts, sum, count. */
  histogram(name: string): { labels: Labels; buckets: readonly number[]; counts: number[]; sum: number; count: number }[] {
    const m = this.metrics.get(name);
    if (!m) return [];
    return [...m.series.values()]
      .filter((s) => s.hist)
      .map((s) => {
        const h = s.hist as NonNullable<Series['hist']>;
        return { labels: s.labels, buckets: m.def.buckets ?? [], counts: [...h.counts], sum: h.sum, count: h.count };
      });
  }

  /** Gauge and counter series set since the last call: what the history writes out. */
  drainUpdated(): SeriesValue[] {
    const out: SeriesValue[] = [];
    for (const s of this.dirty) {
      const m = this.dirtyMetric.get(s);
      if (m && !s.hist) out.push(this.toValue(m, s));
    }
    this.dirty.clear();
    this.dirtyMetric.clear();
    return out;
  }

  private toValue(m: Metric, s: Series): SeriesValue {
    return { key: s.key, name: m.def.name, type: m.def.type, unit: m.def.unit, labels: s.labels, labels_json: s.labelsJson, value: s.value, ts_ms: s.ts_ms };
  }
}
