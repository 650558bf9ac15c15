import type { SpoolRateConfig, SpoolSourceConfig, SpoolerConfig } from '../config/index.js';

/** Per-source rate limit; either figure may be absent (no limit on that axis). */
export type RateLimit = SpoolRateConfig;
export type SourceSettings = SpoolSourceConfig;
export type Backpressure = SourceSettings['backpressure'];
export type FsyncPolicy = SpoolerConfig['fsync'];
/** The effective `spooler:` config section, every field present, sizes in bytes and durations in ms. */
export type SpoolerSettings = SpoolerConfig;

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

