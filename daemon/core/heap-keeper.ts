import { performance } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logger.js';

/**
 * The effective `recovery.heap_keeper` (docs/footprint.md, "Heap keeper"). V8 lets the old generation reach
 * 2-4 × what its last full GC kept before it runs the next one; what lies between is garbage held in RSS. The
 * keeper runs a full GC itself when the heap has grown well past its size after the last one and the event
 * loop is quiet, at most once per `min_interval_ms`.
 */
export interface HeapKeeperConfig {
  readonly enabled: boolean;
  /** How often the heap and the event loop's utilization are read. */
  readonly check_every_ms: number;
  /** The least time between two forced GCs (doubled, up to 16 ×, while forced GCs free little). */
  readonly min_interval_ms: number;
  /** A GC is forced once the heap in use exceeds the size after the last full GC by this many bytes... */
  readonly growth_bytes: number;
  /** ...and by this factor of it. */
  readonly growth_ratio: number;
  /** Event-loop utilization over the last check above which the daemon is busy: no forced GC then. */
  readonly busy_elu: number;
}

export const HEAP_KEEPER_DEFAULTS: HeapKeeperConfig = {
  enabled: true,
  check_every_ms: 5_000,
  min_interval_ms: 30_000,
  growth_bytes: 8 * 1024 * 1024,
  growth_ratio: 1.5,
  busy_elu: 0.5,
};

export interface HeapSample {
  readonly monoMs: number;
  /** V8's heap in use (`used_heap_size`). */
  readonly usedBytes: number;
  /** Event-loop utilization (0-1) since the previous sample. */
  readonly elu: number;
}

export type HeapDecision =
  | { readonly action: 'force'; readonly baselineBytes: number; readonly excessBytes: number }
  | { readonly action: 'wait'; readonly why: 'small' | 'rate-limit' | 'busy' };

const MAX_BACKOFF = 16;

/**
 * The decision alone, fed one sample at a time. The baseline is the heap in use after the last full GC: the
 * keeper's own, or the lowest reading since (V8's own full GCs bring it down). Order of the checks: grown
 * enough, then the rate limit, then busy, so that a busy daemon is never collected by the keeper.
 */
export class HeapKeeperPolicy {
  private baseline: number | undefined;
  private lastForcedMs: number | undefined;
  private backoff = 1;

  constructor(private readonly cfg: Pick<HeapKeeperConfig, 'min_interval_ms' | 'growth_bytes' | 'growth_ratio' | 'busy_elu'>) {}

  /** The least growth over the baseline that makes a GC worth forcing. */
  threshold(baseline: number): number {
    return Math.max(this.cfg.growth_bytes, baseline * (this.cfg.growth_ratio - 1));
  }

  /** The interval now in force between forced GCs. */
  intervalMs(): number {
    return this.cfg.min_interval_ms * this.backoff;
  }

  observe(s: HeapSample): HeapDecision {
    if (this.baseline === undefined || s.usedBytes < this.baseline) this.baseline = s.usedBytes;
    const excess = s.usedBytes - this.baseline;
    if (excess < this.threshold(this.baseline)) return { action: 'wait', why: 'small' };
    if (this.lastForcedMs !== undefined && s.monoMs - this.lastForcedMs < this.intervalMs()) return { action: 'wait', why: 'rate-limit' };
    if (s.elu > this.cfg.busy_elu) return { action: 'wait', why: 'busy' };
    return { action: 'force', baselineBytes: this.baseline, excessBytes: excess };
  }

  /**
   * After a forced GC: the heap it left is the new baseline. One that freed less than half the threshold was
   * not worth its pause (the growth was live data), so the interval doubles; a useful one resets it.
   */
  forced(monoMs: number, beforeBytes: number, afterBytes: number): void {
    const freed = beforeBytes - afterBytes;
    this.backoff = freed < this.threshold(afterBytes) / 2 ? Math.min(this.backoff * 2, MAX_BACKOFF) : 1;
    this.baseline = afterBytes;
    this.lastForcedMs = monoMs;
  }
}

/** A full, memory-reducing GC, or undefined where V8 gives none. */
export type FullGc = () => void;

/**
 * V8's `gc` function without `--expose-gc` on the command line (node refuses it in NODE_OPTIONS on Node 20):
 * the flag is set only while a new context is made, so the daemon's own global has no `gc`. V8 ≥ 12 (Node 22,
 * 24) takes `flavor: 'last-resort'`: its full GC keeps the freed pages pooled for reuse, counted in RSS, and
 * only the memory-reducing one gives them back. Node 20's V8 (11) reads only `type: 'minor'` and
 * `execution: 'async'`, and treats any other object as a request for a minor GC: it is called with no argument,
 * a full GC whose freed pages are unmapped within about a second.
 */
export function acquireFullGc(): FullGc | undefined {
  let gc: unknown;
  try {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc');
  } catch {
    return undefined;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  if (typeof gc !== 'function') return undefined;
  const fn = gc as (opts?: object) => void;
  const v8Major = Number(process.versions.v8.split('.')[0]);
  return v8Major >= 12 ? () => fn({ type: 'major', execution: 'sync', flavor: 'last-resort' }) : () => fn();
}

/** What the keeper has done since the process started (exported as metrics by the self collector). */
export interface HeapKeeperStats {
  forced: number;
  freed_bytes: number;
  gc_ms: number;
}

const stats: HeapKeeperStats = { forced: 0, freed_bytes: 0, gc_ms: 0 };

/** The process's one keeper's counters: zero when none runs. */
export function heapKeeperStats(): Readonly<HeapKeeperStats> {
  return stats;
}

export interface HeapKeeperDeps {
  readonly config: HeapKeeperConfig;
  readonly monoMs: () => number;
  readonly log?: Logger;
  /** For tests: the heap in use, and the GC to run. */
  readonly usedBytes?: () => number;
  readonly gc?: FullGc;
}

/** The unit: reads the heap every `check_every_ms` and forces a GC when the policy says so. No journal writes. */
export class HeapKeeper implements Lifecycle {
  readonly name = 'heap-keeper';
  private timer: NodeJS.Timeout | undefined;
  private readonly policy: HeapKeeperPolicy;

  constructor(private readonly deps: HeapKeeperDeps) {
    this.policy = new HeapKeeperPolicy(deps.config);
  }

  start(): void {
    const gc = this.deps.gc ?? acquireFullGc();
    if (!gc) {
      this.deps.log?.warn("heap keeper: V8's gc function is not available; the heap keeper does not run");
      return;
    }
    const used = this.deps.usedBytes ?? (() => getHeapStatistics().used_heap_size);
    let elu = performance.eventLoopUtilization();
    this.timer = setInterval(() => {
      const now = performance.eventLoopUtilization();
      const sample = { monoMs: this.deps.monoMs(), usedBytes: used(), elu: performance.eventLoopUtilization(now, elu).utilization };
      elu = now;
      const d = this.policy.observe(sample);
      if (d.action !== 'force') return;
      const t0 = performance.now();
      gc();
      const ms = performance.now() - t0;
      const after = used();
      this.policy.forced(this.deps.monoMs(), sample.usedBytes, after);
      stats.forced++;
      stats.freed_bytes += Math.max(0, sample.usedBytes - after);
      stats.gc_ms += ms;
      // The next utilization reading must not count the GC's own pause as load.
      elu = performance.eventLoopUtilization();
      this.deps.log?.debug(
        { before_bytes: sample.usedBytes, after_bytes: after, baseline_bytes: d.baselineBytes, elu: Math.round(sample.elu * 1000) / 1000, gc_ms: Math.round(ms * 10) / 10, next_after_ms: this.policy.intervalMs() },
        `heap keeper: forced GC ${mib(sample.usedBytes)} -> ${mib(after)} in ${ms.toFixed(1)} ms`,
      );
    }, this.deps.config.check_every_ms);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function mib(b: number): string {
  return `${(b / 1048576).toFixed(1)} MiB`;
}
