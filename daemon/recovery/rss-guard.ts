import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import type { Lifecycle } from '../core/lifecycle.js';

/** The effective `recovery.rss_guard` (docs/footprint.md, "RSS creep guard"). */
export interface RssGuardConfig {
  /** RSS above this, in bytes, starts the clock. */
  readonly ceiling_bytes: number;
  /** How long RSS must stay above the ceiling, without a sample below it, before the daemon restarts. */
  readonly for_ms: number;
  /** How often RSS is read. */
  readonly check_every_ms: number;
}

/** What the guard saw when it tripped: the figures the `daemon.rss_ceiling` event carries. */
export interface RssTrip {
  readonly rss_bytes: number;
  readonly ceiling_bytes: number;
  readonly above_since_ms: number;
  readonly above_for_ms: number;
}

/**
 * The decision alone, fed one RSS sample at a time: trips once RSS has been above the ceiling at every sample
 * for `for_ms`. A sample at or below the ceiling starts the clock again.
 */
export class RssCeiling {
  private aboveSince: number | undefined;

  constructor(private readonly cfg: Pick<RssGuardConfig, 'ceiling_bytes' | 'for_ms'>) {}

  observe(monoMs: number, rssBytes: number): RssTrip | undefined {
    if (rssBytes <= this.cfg.ceiling_bytes) {
      this.aboveSince = undefined;
      return undefined;
    }
    this.aboveSince ??= monoMs;
    const forMs = monoMs - this.aboveSince;
    if (forMs < this.cfg.for_ms) return undefined;
    return { rss_bytes: rssBytes, ceiling_bytes: this.cfg.ceiling_bytes, above_since_ms: this.aboveSince, above_for_ms: forMs };
  }
}

/** V8's and the process's own view of its memory, in bytes: why RSS is where it is, for the event. */
export function memoryFigures(): Record<string, unknown> {
  const h = getHeapStatistics();
  return {
    memory: process.memoryUsage(),
    heap: {
      total_heap_size: h.total_heap_size,
      used_heap_size: h.used_heap_size,
      heap_size_limit: h.heap_size_limit,
      malloced_memory: h.malloced_memory,
      peak_malloced_memory: h.peak_malloced_memory,
      external_memory: h.external_memory,
      number_of_native_contexts: h.number_of_native_contexts,
      number_of_detached_contexts: h.number_of_detached_contexts,
    },
    heap_spaces: Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size, physical: s.physical_space_size }])),
    resource_usage: { max_rss_kb: process.resourceUsage().maxRSS },
  };
}

export interface RssGuardDeps {
  readonly config: RssGuardConfig;
  readonly monoMs: () => number;
  /** Records why and stops the daemon through its normal exit (compose/services.ts). */
  readonly onTrip: (trip: RssTrip) => void;
  readonly rss?: () => number;
}

/** The unit: reads RSS every `check_every_ms` and calls onTrip once. */
export class RssGuard implements Lifecycle {
  readonly name = 'rss-guard';
  private timer: NodeJS.Timeout | undefined;
  private tripped = false;
  private readonly ceiling: RssCeiling;

  constructor(private readonly deps: RssGuardDeps) {
    this.ceiling = new RssCeiling(deps.config);
  }

  start(): void {
    const rss = this.deps.rss ?? (() => process.memoryUsage.rss());
    this.timer = setInterval(() => {
      if (this.tripped) return;
      const trip = this.ceiling.observe(this.deps.monoMs(), rss());
      if (!trip) return;
      this.tripped = true;
      this.deps.onTrip(trip);
    }, this.deps.config.check_every_ms);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
