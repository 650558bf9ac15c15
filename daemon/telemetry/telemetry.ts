import type { TelemetryCollector, TelemetryConfig } from '../config/index.js';
import { type Chaos, type Clock, type Lifecycle, type Logger, type Paths, errorMessage } from '../core/index.js';
import { type EventInput, type Journal, SEVERITIES } from '../journal/index.js';
import {
  type CollectorEnv,
  type ServiceInfo,
  cpuCollector,
  diskstatsCollector,
  filesystemCollector,
  gpuCollector,
  loadCollector,
  memoryCollector,
  netCollector,
  pressureCollector,
  queueCollector,
  spoolCollector,
  selfCollector,
  servicesCollector,
  temperatureCollector,
} from './collectors.js';
import { EventRates, type HealthInputs, type HealthReport, type HealthWeights, healthScore } from './health.js';
import { History } from './history.js';
import { type CorruptChunkHandler, type HistoryAnswer, readHistory, reportCorruptOnce } from './history-query.js';
import { METRICS } from './metrics.js';
import { ProcFiles } from './procfs.js';
import { type ExpositionSources, type PrometheusServer, startPrometheus } from './prometheus.js';
import { type Labels, type Point, Registry } from './registry.js';
import { type CollectorStatus, CollectorScheduler, TickStamper } from './scheduler.js';

export interface TelemetryDeps {
  journal: Journal;
  config: TelemetryConfig;
  clock: Clock;
  log: Logger;
  paths: Paths;
  /** The supervisor's view of its services; until it exists, none. */
  services?: () => ServiceInfo[];
  /** Bytes per log source in the spool; without it the spool collector exports nothing. */
  spoolUsage?: () => ReadonlyMap<string, number>;
  procDir?: string;
  sysDir?: string;
  /** Each sampling pass's new values, in the order taken (the policy engine observes them). */
  onSamples?: (samples: readonly { ts_ms: number; name: string; value: number; unit: string; labels: Readonly<Record<string, string>> }[]) => void;
  /** Failure injection at each collector run (test rigs only). */
  chaos?: Chaos;
  /** The build, mode, breakers and bundles shown on /metrics beside the registry's series. */
  exposition?: ExpositionSources;
  /**
   * The first sampling pass waits for this (the daemon's READY=1): on a new root it adds every series to the
   * catalogue, which must not delay start-up. Without it the first pass runs at once.
   */
  firstPassAfter?: Promise<unknown>;
}

/** The `metrics --json` row (CONTRACT.md), with the type and the time of the value added. */
export interface MetricRow {
  name: string;
  value: number;
  unit: string;
  labels: Labels;
  type: string;
  ts: string;
}

const MAINTAIN_EVERY_MS = 60_000;
const FIRST_MAINTAIN_MS = 10_000;

/**
 * The telemetry module: collectors on their intervals, the registry the policy engine reads, metric
 * history in the journal, the health score and the optional Prometheus endpoint.
 */
export class Telemetry implements Lifecycle {
  readonly name = 'telemetry';
  readonly registry: Registry;
  private readonly scheduler: CollectorScheduler;
  private readonly history: History;
  private readonly stamper: TickStamper;
  /** Monotonic time the next sampling pass is scheduled for: passes keep to a grid of the sampling tick. */
  private nextPass: number | undefined;
  private readonly queues = new Map<string, () => number>();
  private readonly rates: EventRates;
  private readonly refused = new Set<string>();
  private readonly services: () => ServiceInfo[];
  private readonly stops: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private lastFlush: number;
  private nextMaintain: number;
  private prom: PrometheusServer | undefined;
  private promError: string | null = null;
  private lastHealth: HealthReport | null = null;
  private readonly files = new ProcFiles();
  private readonly restartMarks = new Map<string, { mono: number; restarts: number; failed: number }[]>();
  /** A corrupt chunk met by a history query is recorded once (telemetry.chunk_corrupt) and left out. */
  private readonly onCorruptChunk: CorruptChunkHandler = reportCorruptOnce((e) => this.emit(e));

  constructor(private readonly deps: TelemetryDeps) {
    const c = deps.config;
    this.services = deps.services ?? (() => []);
    this.registry = new Registry({
      clock: deps.clock,
      maxSeries: c.max_series,
      windowPoints: c.window_points,
      onRefused: (metric, labels, count) => this.seriesRefused(metric, labels, count),
    });
    for (const def of Object.values(METRICS)) this.registry.define(def);
    this.scheduler = new CollectorScheduler({
      clock: deps.clock,
      emit: (e) => this.emit(e),
      maxBackoffMs: c.max_backoff_ms,
      chaos: deps.chaos,
      onRun: (name, ok, ms) => {
        this.registry.observe(METRICS.telemetry_collector_duration_seconds.name, { collector: name }, ms / 1000);
        const up = ok ? 1 : 0;
        if (this.registry.current(METRICS.telemetry_collector_up.name, { collector: name }) !== up) this.registry.set(METRICS.telemetry_collector_up.name, { collector: name }, up);
        if (!ok) this.registry.inc(METRICS.telemetry_collector_errors_total.name, { collector: name });
      },
    });
    this.history = new History({
      journal: deps.journal,
      clock: deps.clock,
      log: deps.log,
      emit: (e) => this.emit(e),
      rawRetentionMs: c.raw_retention_ms,
      aggregateRetentionMs: c.aggregate_retention_ms,
      quotaBytes: c.quota_bytes,
      unchangedEveryMs: c.unchanged_every_ms,
    });
    this.stamper = new TickStamper(c.stamp_tolerance_ms);
    this.rates = new EventRates(c.health.window_ms);
    this.lastFlush = deps.clock.monoMs();
    this.nextMaintain = deps.clock.monoMs() + FIRST_MAINTAIN_MS;
    this.registerQueue('telemetry.history', () => this.history.buffered);
  }

  /** Any bounded queue inside WaveOS registers its depth here; returns the unregister handle. */
  registerQueue(name: string, depth: () => number): () => void {
    this.queues.set(name, depth);
    return () => {
      this.queues.delete(name);
      this.registry.remove(METRICS.queue_depth.name, { queue: name });
    };
  }

  private emit(e: EventInput): void {
    try {
      this.deps.journal.append(e);
    } catch (err) {
      this.deps.log.error({ err: errorMessage(err), kind: e.kind }, 'telemetry could not journal an event');
    }
  }

  private seriesRefused(metric: string, labels: Labels, count: number): void {
    if (this.refused.has(metric)) return;
    this.refused.add(metric);
    this.emit({
      kind: 'telemetry.series_refused',
      severity: 'warning',
      source: 'telemetry',
      reason: `refused a new series of ${metric}: the registry holds ${count} series, its cap (telemetry.max_series); further new series of this metric are refused silently`,
      data: { metric, labels: { ...labels }, series: count, max_series: this.deps.config.max_series },
    });
  }

  private env(): CollectorEnv {
    return {
      registry: this.registry,
      clock: this.deps.clock,
      emit: (e) => this.emit(e),
      procDir: this.deps.procDir ?? '/proc',
      sysDir: this.deps.sysDir ?? '/sys',
      files: this.files,
      note: (msg, data) => this.deps.log.info(data, msg),
    };
  }

  private addCollectors(): void {
    const c = this.deps.config.collectors;
    const env = this.env();
    const add = (name: TelemetryCollector, collect: () => void | Promise<void>): void => {
      const cc = c[name];
      if (cc.enabled) this.scheduler.add({ name, intervalMs: cc.interval_ms, timeoutMs: cc.timeout_ms, collect });
    };
    add('cpu', cpuCollector(env));
    add('load', loadCollector(env));
    add('memory', memoryCollector(env));
    add('pressure', pressureCollector(env));
    if (c.self.enabled) {
      const self = selfCollector(env, env.procDir, this.deps.config.loop_delay_resolution_ms);
      this.stops.push(self.stop);
      add('self', self.collect);
    }
    add('services', servicesCollector(env, this.services));
    const { paths } = this.deps;
    add('filesystem', filesystemCollector(env, [
      { volume: 'state', path: paths.libDir },
      { volume: 'logs', path: paths.logDir },
    ]));
    add('diskstats', diskstatsCollector(env));
    add('net', netCollector(env));
    add('temperature', temperatureCollector(env));
    add('queues', queueCollector(env, this.queues));
    add('spool', spoolCollector(env, this.deps.spoolUsage ?? (() => new Map())));
    add('events', () => this.collectEvents());
    add('health', () => this.collectHealth());
    const gpu = this.deps.config.gpu;
    if (gpu.enabled) this.scheduler.add({ name: 'gpu', intervalMs: gpu.interval_ms, timeoutMs: Math.min(gpu.interval_ms, 5_000), collect: gpuCollector(env, gpu.command, Math.min(gpu.interval_ms, 5_000)) });
  }

  /** Adds a collector from outside (tests, or a module with figures of its own). */
  addCollector(c: { name: string; intervalMs: number; timeoutMs: number; collect: () => void | Promise<void> }): void {
    this.scheduler.add(c);
  }

  private collectEvents(): void {
    const per = this.rates.perMinute(this.deps.clock.monoMs());
    for (const s of SEVERITIES) {
      this.registry.set(METRICS.events_per_minute.name, { severity: s }, per[s]);
      this.registry.set(METRICS.events_total.name, { severity: s }, this.rates.totals[s]);
    }
  }

  /** Restarts within the health window: those after a failure, and those someone asked for. */
  private restartsInWindow(list: ServiceInfo[], now: number): { failure: number; asked: number } {
    const from = now - this.deps.config.health.window_ms;
    let failure = 0;
    let all = 0;
    const seen = new Set<string>();
    for (const s of list) {
      seen.add(s.name);
      const marks = this.restartMarks.get(s.name) ?? [];
      const failed = s.failure_restarts ?? s.restarts;
      marks.push({ mono: now, restarts: s.restarts, failed });
      // Keep one mark at or before the window's start as the baseline.
      while (marks.length > 1 && (marks[1] as { mono: number }).mono <= from) marks.shift();
      this.restartMarks.set(s.name, marks);
      const base = marks[0] as { restarts: number; failed: number };
      all += Math.max(0, s.restarts - base.restarts);
      failure += Math.max(0, failed - base.failed);
    }
    for (const k of [...this.restartMarks.keys()]) if (!seen.has(k)) this.restartMarks.delete(k);
    return { failure, asked: Math.max(0, all - failure) };
  }

  /** Gathers the documented inputs and recomputes the score. */
  computeHealth(): HealthReport {
    const now = this.deps.clock.monoMs();
    const cfg = this.deps.config.health;
    const list = this.services();
    const used = this.registry.series(METRICS.filesystem_used_ratio.name).map((s) => s.value);
    const windowMin = cfg.window_ms / 60_000;
    const restarts = this.restartsInWindow(list, now);
    const inputs: HealthInputs = {
      service_restarts: restarts.failure,
      requested_restarts: restarts.asked,
      failed_services: list.filter((s) => s.state.startsWith('failed')).map((s) => s.name),
      budget_violations: this.rates.inWindow('budget', now),
      breaker_trips: this.rates.inWindow('breaker', now),
      error_events_per_minute: this.rates.inWindow('error', now) / Math.max(1, windowMin),
      disk_free_ratio: used.length ? 1 - Math.max(...used) : null,
      failing_collectors: this.scheduler.status().filter((s) => !s.ok).map((s) => s.name),
    };
    const report = healthScore(inputs, cfg.weights as HealthWeights, Math.round(cfg.window_ms / 1000));
    this.lastHealth = report;
    return report;
  }

  private collectHealth(): void {
    const report = this.computeHealth();
    this.registry.set(METRICS.health_score.name, {}, report.score);
    for (const input of Object.keys(this.deps.config.health.weights)) {
      const d = report.deductions.find((x) => x.input === input);
      this.registry.set(METRICS.health_deduction_points.name, { input }, d?.points ?? 0);
    }
    this.registry.set(METRICS.telemetry_series.name, {}, this.registry.seriesCount);
  }

  /** `{score, deductions}` for `waveos status`; computed on demand before the first health run. */
  health(): HealthReport {
    return this.lastHealth ?? this.computeHealth();
  }

  collectors(): CollectorStatus[] {
    return this.scheduler.status();
  }

  get prometheusUrl(): string | null {
    return this.prom?.url ?? null;
  }

  /** Why the endpoint is not serving although enabled, or null. */
  get prometheusError(): string | null {
    return this.promError;
  }

  /** Current values of every series (the policy engine and `waveos metrics`). */
  current(): MetricRow[] {
    return this.registry.snapshot().map((s) => ({ name: s.name, value: s.value, unit: s.unit, labels: s.labels, type: s.type, ts: new Date(s.ts_ms).toISOString() }));
  }

  /** The policy engine's read API. */
  value(name: string, labels: Labels = {}): number | undefined {
    return this.registry.current(name, labels);
  }

  window(name: string, labels: Labels = {}, ms?: number): Point[] {
    return this.registry.window(name, labels, ms);
  }

  /** Writes the buffered samples out now (an evidence export reads them from the journal). */
  flushHistory(): void {
    this.history.flush();
  }

  /** History since a time, with the buffered samples written out first so that it is up to date. */
  historySince(sinceMs: number, name: string | undefined, limit: number): HistoryAnswer {
    this.history.flush();
    return readHistory(this.deps.journal, { sinceMs, name, limit, onCorrupt: this.onCorruptChunk });
  }

  /**
   * One sampling pass: due collectors, then history capture, flush and maintenance when due. `dueMono` is the
   * monotonic time the pass was scheduled for (default: now); its samples are stamped with that tick when
   * taken within `telemetry.stamp_tolerance` of it (TickStamper).
   */
  async tick(dueMono?: number): Promise<void> {
    const clock = this.deps.clock;
    const due = dueMono ?? clock.monoMs();
    const tickWall = this.stamper.begin(due, clock.now(), clock.monoMs());
    await this.scheduler.runDue(due);
    const updated = this.registry.drainUpdated();
    for (const u of updated) u.ts_ms = this.stamper.stamp(u.ts_ms, tickWall);
    this.stamper.end(clock.now());
    this.history.capture(updated);
    if (updated.length > 0 && this.deps.onSamples) {
      try {
        this.deps.onSamples(updated);
      } catch (e) {
        this.deps.log.error({ err: errorMessage(e) }, 'a sample listener failed');
      }
    }
    const now = this.deps.clock.monoMs();
    if (now - this.lastFlush >= this.deps.config.flush_interval_ms) {
      this.lastFlush = now;
      this.history.flush();
    }
    if (now >= this.nextMaintain) {
      this.nextMaintain = now + MAINTAIN_EVERY_MS;
      try {
        this.history.maintain();
      } catch (e) {
        this.deps.log.error({ err: errorMessage(e) }, 'metric retention pass failed; will retry');
      }
    }
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.stops.push(this.deps.journal.onCommit((events) => this.rates.record(events)));
    this.addCollectors();
    const p = this.deps.config.prometheus;
    if (p.enabled) {
      try {
        this.prom = await startPrometheus(this.registry, p.host, p.port, this.deps.log, this.deps.exposition, this.deps.firstPassAfter);
        this.deps.log.info({ url: this.prom.url }, `prometheus metrics at ${this.prom.url}`);
      } catch (e) {
        // Another daemon (or anything) may hold the port: metrics go on without the endpoint. A log line
        // and the status document say so; it is not an event, as nothing was done.
        this.promError = `could not listen on ${p.host}:${p.port}: ${errorMessage(e)}`;
        this.deps.log.warn(
          { host: p.host, port: p.port, err: errorMessage(e) },
          `the Prometheus endpoint ${this.promError}; metrics are still collected, journaled and shown by waveos metrics`,
        );
      }
    }
    this.deps.log.info(
      { collectors: this.scheduler.status().map((s) => s.name), sample_interval_ms: this.deps.config.sample_interval_ms },
      `telemetry sampling every ${this.deps.config.sample_interval_ms} ms with ${this.scheduler.size} collectors`,
    );
    // The first pass waits for the exposition too, so that its histograms see every observation.
    const after = this.prom ? this.prom.built : this.deps.firstPassAfter;
    if (after) void after.then(() => this.schedule(0), () => this.schedule(0));
    else this.schedule(0);
  }

  /**
   * Schedules the next pass `delay` ms from now (the first) or at the next tick of the grid. Passes keep to
   * the grid whatever a timer's lateness or a pass's length (a late pass runs at once for its tick; ticks a
   * pass overran entirely are skipped), so their ticks stay one interval apart.
   */
  private schedule(delay?: number): void {
    if (this.stopped) return;
    const now = this.deps.clock.monoMs();
    if (this.nextPass === undefined || delay !== undefined) this.nextPass = now + (delay ?? 0);
    else {
      const tick = this.scheduler.size > 0 ? this.scheduler.tickMs() : this.deps.config.sample_interval_ms;
      this.nextPass += tick;
      if (this.nextPass + tick <= now) this.nextPass += Math.floor((now - this.nextPass) / tick) * tick;
    }
    const due = this.nextPass;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.tick(due)
        .catch((e: unknown) => this.deps.log.error({ err: errorMessage(e) }, 'telemetry pass failed'))
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, Math.max(0, due - now));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    for (const s of this.stops.splice(0)) s();
    this.files.close();
    try {
      this.history.capture(this.registry.drainUpdated());
      this.history.flush(true);
    } catch (e) {
      this.deps.log.error({ err: errorMessage(e) }, 'final metric flush failed');
    }
    await this.prom?.close();
    this.prom = undefined;
  }
}
