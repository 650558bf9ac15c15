import { type Chaos, type Clock, errorMessage } from '../core/index.js';
import type { EventInput } from '../journal/index.js';

/** One source of samples. `collect` reads and writes its series into the registry; it may be sync. */
export interface Collector {
  readonly name: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  collect(): void | Promise<void>;
}

export interface CollectorStatus {
  name: string;
  interval_ms: number;
  ok: boolean;
  /** Failures in a row; 0 when the last run worked. */
  consecutive_failures: number;
  errors_total: number;
  runs_total: number;
  last_error: string | null;
  /** Wall time of the first failure of the current outage. */
  failing_since: string | null;
}

export interface SchedulerDeps {
  clock: Clock;
  emit(e: EventInput): void;
  /** Longest wait between retries of a failing collector. */
  maxBackoffMs: number;
  /** Told after every run, for the collectors' own metrics. */
  onRun?(name: string, ok: boolean, ms: number): void;
  /** Failure injection at each collector run (test rigs only). */
  chaos?: Chaos;
}

interface Slot {
  readonly c: Collector;
  nextDue: number;
  consecutive: number;
  errors: number;
  runs: number;
  lastError: string | null;
  failingSinceWall: number | null;
  failingSinceMono: number | null;
  /** A run that timed out and has not settled yet: no new run starts beside it. */
  hung: boolean;
}

class Timeout extends Error {}

/**
 * Runs collectors on their own intervals, each with a time limit. A collector that throws or hangs is
 * counted, reported ONCE (`telemetry.collector_failed`) for the whole outage, retried with exponential
 * backoff, and reported again when it works (`telemetry.collector_recovered`); the others run on.
 */
export class CollectorScheduler {
  private readonly slots: Slot[] = [];

  constructor(private readonly deps: SchedulerDeps) {}

  add(c: Collector): void {
    this.slots.push({
      c,
      nextDue: this.deps.clock.monoMs(),
      consecutive: 0,
      errors: 0,
      runs: 0,
      lastError: null,
      failingSinceWall: null,
      failingSinceMono: null,
      hung: false,
    });
  }

  get size(): number {
    return this.slots.length;
  }

  /** The shortest interval: how often the sampling loop should look for due collectors. */
  tickMs(): number {
    return Math.min(...this.slots.map((s) => s.c.intervalMs));
  }

  failingCount(): number {
    return this.slots.filter((s) => s.consecutive > 0).length;
  }

  status(): CollectorStatus[] {
    return this.slots.map((s) => ({
      name: s.c.name,
      interval_ms: s.c.intervalMs,
      ok: s.consecutive === 0,
      consecutive_failures: s.consecutive,
      errors_total: s.errors,
      runs_total: s.runs,
      last_error: s.lastError,
      failing_since: s.failingSinceWall === null ? null : new Date(s.failingSinceWall).toISOString(),
    }));
  }

  /**
   * Runs every collector that is due, concurrently; resolves when each has finished or timed out. `at` is the
   * monotonic time the pass was scheduled for (default: now): cadences are kept on that grid, so a pass that
   * fired a few milliseconds late neither shifts them nor skips a run.
   */
  async runDue(at?: number): Promise<void> {
    const now = at ?? this.deps.clock.monoMs();
    // A little slack, so a timer that fires a millisecond early does not skip a whole interval.
    const due = this.slots.filter((s) => s.nextDue <= now + Math.min(50, s.c.intervalMs / 10));
    await Promise.all(due.map((s) => this.runOne(s, now)));
  }

  private async runOne(s: Slot, now: number): Promise<void> {
    if (s.hung) {
      this.failed(s, now, new Error(`still running: a run that exceeded its ${s.c.timeoutMs} ms limit has not finished`), 0);
      return;
    }
    const t0 = this.deps.clock.monoMs();
    let result: void | Promise<void>;
    try {
      const injected = this.deps.chaos?.draws('collector') ?? {};
      if (injected.error) throw injected.error;
      const delay = injected.delayMs;
      // A stalled collector is an asynchronous one that finishes late: its time limit applies.
      result = delay ? new Promise<void>((res) => setTimeout(res, delay)).then(() => s.c.collect()) : s.c.collect();
    } catch (e) {
      this.failed(s, now, e, this.deps.clock.monoMs() - t0);
      return;
    }
    if (!(result instanceof Promise)) {
      // A synchronous read cannot be cut short; one that overran its limit still counts as a failure.
      const ms = this.deps.clock.monoMs() - t0;
      if (ms > s.c.timeoutMs) this.failed(s, now, new Error(`took ${ms} ms, over its ${s.c.timeoutMs} ms limit`), ms);
      else this.succeeded(s, now, ms);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const run = result;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Timeout(`did not finish within ${s.c.timeoutMs} ms`)), s.c.timeoutMs);
    });
    try {
      await Promise.race([run, limit]);
      this.succeeded(s, now, this.deps.clock.monoMs() - t0);
    } catch (e) {
      if (e instanceof Timeout) {
        s.hung = true;
        run.then(
          () => (s.hung = false),
          () => (s.hung = false),
        );
      }
      this.failed(s, now, e, this.deps.clock.monoMs() - t0);
    } finally {
      clearTimeout(timer);
    }
  }

  private succeeded(s: Slot, now: number, ms: number): void {
    s.runs++;
    if (s.consecutive > 0) {
      const downMs = s.failingSinceMono === null ? 0 : now - s.failingSinceMono;
      this.deps.emit({
        kind: 'telemetry.collector_recovered',
        severity: 'notice',
        source: 'telemetry',
        reason: `collector ${s.c.name} works again after ${s.consecutive} failed attempt${s.consecutive === 1 ? '' : 's'} over ${Math.round(downMs / 1000)} s`,
        data: { collector: s.c.name, failed_attempts: s.consecutive, down_ms: downMs, errors_total: s.errors },
      });
    }
    s.consecutive = 0;
    s.failingSinceMono = null;
    s.failingSinceWall = null;
    // Keep the cadence: the next run is one interval after this one was due, not after it finished.
    s.nextDue += s.c.intervalMs;
    if (s.nextDue <= now) s.nextDue = now + s.c.intervalMs;
    this.deps.onRun?.(s.c.name, true, ms);
  }

  private failed(s: Slot, now: number, e: unknown, ms: number): void {
    s.runs++;
    s.errors++;
    s.consecutive++;
    s.lastError = errorMessage(e);
    const backoff = Math.min(this.deps.maxBackoffMs, s.c.intervalMs * 2 ** Math.min(s.consecutive, 20));
    s.nextDue = now + Math.max(backoff, s.c.intervalMs);
    if (s.consecutive === 1) {
      s.failingSinceMono = now;
      s.failingSinceWall = this.deps.clock.now();
      this.deps.emit({
        kind: 'telemetry.collector_failed',
        severity: 'warning',
        source: 'telemetry',
        reason: `collector ${s.c.name} failed: ${s.lastError}; its series stop updating, the other collectors run on, and it is retried with backoff (next in ${Math.round(backoff / 1000)} s)`,
        data: { collector: s.c.name, error: s.lastError, retry_in_ms: backoff, max_backoff_ms: this.deps.maxBackoffMs, interval_ms: s.c.intervalMs },
      });
    }
    this.deps.onRun?.(s.c.name, false, ms);
  }
}

/**
 * Stamps samples with the sampling tick they were taken for, as Prometheus does with its scrape timestamp
 * tolerance: a sample whose wall-clock time lies within `toleranceMs` of its pass's tick takes the tick, any
 * other keeps its own time. A pass's tick is its scheduled monotonic time plus the wall-minus-monotonic
 * offset, which stays as it was until the wall clock steps by more than the tolerance (NTP, an RTC
 * correction): then the offset is taken anew and the samples follow the new clock as they did without
 * stamping (a step back seals the open chunks, docs/journal.md). A pass that begins after its tick went by
 * (the one before overran it) stamps nothing, so no stamp goes back before a sample of the pass before. A
 * stamp is so never more than the tolerance from the time the sample was taken. With 1 s sampling the delta
 * of delta of the stamps is then 0, one bit in a chunk instead of ~9 for the milliseconds of scheduling
 * jitter. A tolerance of 0 keeps every sample's own time.
 */
export class TickStamper {
  private offset: number | null = null;
  /** Wall time the last pass ended: a later pass's tick must not lie before it. */
  private floor = -Infinity;

  constructor(readonly toleranceMs: number) {}

  /** The wall-clock tick of a pass scheduled at monotonic `dueMono`, the clocks read as it begins; NaN: none. */
  begin(dueMono: number, wallNow: number, monoNow: number): number {
    if (this.toleranceMs <= 0) return NaN;
    const off = wallNow - monoNow;
    if (this.offset === null || Math.abs(off - this.offset) > this.toleranceMs) {
      this.offset = off;
      this.floor = -Infinity;
    }
    const tick = dueMono + this.offset;
    return tick >= this.floor ? tick : NaN;
  }

  /** The stamp of a sample taken at wall time `actual` in the pass whose tick is `tick`. */
  stamp(actual: number, tick: number): number {
    return Math.abs(actual - tick) <= this.toleranceMs ? tick : actual;
  }

  /** The pass's samples are stamped: the wall clock as it ends. */
  end(wallNow: number): void {
    if (wallNow > this.floor) this.floor = wallNow;
  }
}
