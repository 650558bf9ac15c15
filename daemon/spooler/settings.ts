/** Per-source rate limit; either figure may be absent (no limit on that axis). */
export interface RateLimit {
  readonly lines_per_s?: number;
  readonly bytes_per_s?: number;
  /** How many seconds of the rate may arrive at once (the bucket's depth). */
  readonly burst_s: number;
}

export type Backpressure = 'block' | 'drop';
export type FsyncPolicy = 'none' | 'interval' | 'every-batch';

export interface SourceSettings {
  readonly backpressure: Backpressure;
  readonly rate: RateLimit | undefined;
  readonly max_line_bytes: number;
}

/** The effective `spooler:` config section, every field present, sizes in bytes and durations in ms. */
export interface SpoolerSettings {
  readonly enabled: boolean;
  readonly flush_interval_ms: number;
  /** A batch this big is written at once, without waiting for the flush interval. */
  readonly batch_bytes: number;
  readonly fsync: FsyncPolicy;
  readonly fsync_interval_ms: number;
  readonly rotate_bytes: number;
  readonly rotate_age_ms: number;
  /** Rotated files kept per source. */
  readonly keep_files: number;
  readonly max_age_ms: number;
  /** All spool files of all sources together. */
  readonly quota_bytes: number;
  /** Free space on the spool's filesystem below which rotated files are deleted, then new lines dropped. */
  readonly min_free_bytes: number;
  readonly disk_check_interval_ms: number;
  /** Bytes waiting to be written per source before backpressure applies. */
  readonly buffer_bytes: number;
  readonly report_interval_ms: number;
  readonly redact: readonly string[];
  readonly socket: boolean;
  readonly socket_mode: number;
  readonly defaults: SourceSettings;
  readonly sources: Readonly<Record<string, Partial<SourceSettings>>>;
}

/** Default settings; tests and embedders override what they need. */
export function spoolerSettings(over: Partial<SpoolerSettings> = {}): SpoolerSettings {
  return {
    enabled: true,
    flush_interval_ms: 200,
    batch_bytes: 64 * 1024,
    fsync: 'interval',
    fsync_interval_ms: 5_000,
    rotate_bytes: 1024 * 1024,
    rotate_age_ms: 3_600_000,
    keep_files: 10,
    max_age_ms: 7 * 86_400_000,
    quota_bytes: 64 * 1024 * 1024,
    min_free_bytes: 16 * 1024 * 1024,
    disk_check_interval_ms: 1_000,
    buffer_bytes: 1024 * 1024,
    report_interval_ms: 10_000,
    redact: [],
    socket: true,
    socket_mode: 0o666,
    defaults: { backpressure: 'block', rate: { lines_per_s: 1_000, bytes_per_s: 256 * 1024, burst_s: 2 }, max_line_bytes: 8 * 1024 },
    sources: {},
    ...over,
  };
}

