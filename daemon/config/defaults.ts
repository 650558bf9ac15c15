import type { Config, ConfigFile, Profile, TelemetryConfig } from './schema.js';
import { CONFIG_SCHEMA_VERSION, TELEMETRY_COLLECTORS } from './schema.js';
import { devRebootCommand, devServices } from './dev-services.js';
import { recoveryConfig, serviceSpec } from './services-schema.js';
import { proxyConfig, spoolerConfig } from './section-defaults.js';
import { fleetConfig } from './fleet-schema.js';
import { chaosRule } from '../core/index.js';
import { alertingConfig, tracingConfig } from './observability-schema.js';

interface ProfileDefaults {
  environment: string;
  log_format: 'json' | 'pretty';
  flush_interval_ms: number;
  sample_interval_ms: number;
  prometheus_enabled: boolean;
  evidence_schedule: string | null;
}

/** telemetry.stamp_tolerance's default (docs/telemetry.md says why). */
export const DEFAULT_STAMP_TOLERANCE_MS = 50;

/** The Prometheus endpoint's default port (127.0.0.1 in both profiles). */
export const PROMETHEUS_DEFAULT_PORT = 9469;

/**
 * Collectors whose figures move slowly sample at most this often: the kernel updates loadavg every 5 s,
 * filesystem usage changes slowly, and error rates and the health score are per-minute figures.
 */
const SLOW_COLLECTORS: Partial<Record<string, number>> = { load: 5_000, filesystem: 10_000, spool: 10_000, events: 5_000, health: 5_000 };

/** Lays the file's `telemetry:` section over the defaults (docs/telemetry.md explains each). */
function telemetryConfig(t: NonNullable<ConfigFile['telemetry']>, d: ProfileDefaults): TelemetryConfig {
  const sample = t.sample_interval ?? d.sample_interval_ms;
  const timeout = t.collector_timeout ?? 2_000;
  const w = t.health?.weights;
  const weight = (x: { points?: number; max?: number } | undefined, points: number, max: number) => ({ points: x?.points ?? points, max: x?.max ?? max });
  return {
    sample_interval_ms: sample,
    // Fewer, larger transactions cost less CPU than many small ones; a crash loses at most this much.
    flush_interval_ms: t.flush_interval ?? Math.min(Math.max(sample * 10, 10_000), 60_000),
    collector_timeout_ms: timeout,
    unchanged_every_ms: t.unchanged_every ?? 0,
    // Scheduling jitter at 1 s was under 16 ms for 73 % of samples and under 64 ms for 99 % (docs/journal.md);
    // a stamp is never further than this from when the sample was taken, and never half an interval.
    stamp_tolerance_ms: Math.min(t.stamp_tolerance ?? DEFAULT_STAMP_TOLERANCE_MS, Math.floor(sample / 2)),
    max_backoff_ms: t.max_backoff ?? 60_000,
    raw_retention_ms: t.raw_retention ?? 24 * 3_600_000,
    aggregate_retention_ms: t.aggregate_retention ?? 30 * 24 * 3_600_000,
    quota_bytes: t.quota ?? 128 * 1024 * 1024,
    max_series: t.max_series ?? 2_000,
    window_points: t.window_points ?? 300,
    loop_delay_resolution_ms: Math.max(1, t.loop_delay_resolution ?? 200),
    prometheus: {
      enabled: t.prometheus?.enabled ?? d.prometheus_enabled,
      host: t.prometheus?.host ?? '127.0.0.1',
      port: t.prometheus?.port ?? PROMETHEUS_DEFAULT_PORT,
    },
    health: {
      window_ms: t.health?.window ?? 600_000,
      weights: {
        service_restart: weight(w?.service_restart, 5, 25),
        service_failed: weight(w?.service_failed, 20, 40),
        budget_violation: weight(w?.budget_violation, 5, 20),
        breaker_trip: weight(w?.breaker_trip, 15, 30),
        error_event_rate: weight(w?.error_event_rate, 2, 20),
        disk_headroom: { points: w?.disk_headroom?.points ?? 30, below: w?.disk_headroom?.below ?? 0.1 },
        collector_failure: weight(w?.collector_failure, 5, 15),
      },
    },
    collectors: Object.fromEntries(
      TELEMETRY_COLLECTORS.map((name) => {
        const c = t.collectors?.[name];
        const o = typeof c === 'object' ? c : {};
        const interval = o.interval ?? Math.max(sample, SLOW_COLLECTORS[name] ?? 0);
        return [name, { enabled: typeof c === 'boolean' ? c : (o.enabled ?? true), interval_ms: interval, timeout_ms: o.timeout ?? Math.min(timeout, Math.max(interval, 100)) }];
      }),
    ) as TelemetryConfig['collectors'],
    gpu: { enabled: t.gpu?.enabled ?? false, command: t.gpu?.command ?? 'nvidia-smi', interval_ms: t.gpu?.interval ?? Math.max(sample, 10_000) },
  };
}

const PROFILE_DEFAULTS: Record<Profile, ProfileDefaults> = {
  dev: { environment: 'development', log_format: 'pretty', flush_interval_ms: 5_000, sample_interval_ms: 1_000, prometheus_enabled: true, evidence_schedule: null },
  prod: {
    environment: 'production',
    log_format: 'json',
    flush_interval_ms: 60_000,
    sample_interval_ms: 10_000,
    // On, on loopback only (docs/observability.md says how to expose it safely).
    prometheus_enabled: true,
    evidence_schedule: '0 3 * * *',
  },
};

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Lays a parsed file over the profile's defaults and freezes the result. */
export function effectiveConfig(file: ConfigFile | undefined, profile: Profile, fallbackDeviceId: string): Config {
  const d = PROFILE_DEFAULTS[profile];
  return deepFreeze({
    schema_version: CONFIG_SCHEMA_VERSION,
    profile,
    device: {
      device_id: file?.device?.device_id ?? fallbackDeviceId,
      app_id: file?.device?.app_id ?? 'waveos',
      environment: file?.device?.environment ?? d.environment,
    },
    feature_flags: { ...(file?.feature_flags ?? {}) },
    log: {
      level: file?.log?.level ?? 'info',
      format: file?.log?.format ?? d.log_format,
      redact: [...(file?.log?.redact ?? [])],
      events: file?.log?.events ?? 'notice',
    },
    journal: {
      batch_max: file?.journal?.batch_max ?? 256,
      batch_delay_ms: file?.journal?.batch_delay_ms ?? 2,
    },
    artifacts: {
      flush_interval_ms: file?.artifacts?.flush_interval ?? d.flush_interval_ms,
      keep_runs: file?.artifacts?.keep_runs ?? 20,
      max_bytes: file?.artifacts?.max_bytes ?? 256 * 1024 * 1024,
      metrics_csv: file?.artifacts?.metrics_csv ?? 'live',
    },
    api: {
      socket_group: file?.api?.socket_group ?? null,
      admin_group: file?.api?.admin_group ?? 'waveos-admin',
      viewer_group: file?.api?.viewer_group ?? 'waveos',
      auth_failure_burst: file?.api?.auth_failure_burst ?? 20,
    },
    secrets: { ...(file?.secrets ?? {}) },
    telemetry: telemetryConfig(file?.telemetry ?? {}, d),
    // The dev profile supervises the example services when the config names none.
    services: (file?.services ?? (profile === 'dev' ? devServices() : [])).map(serviceSpec),
    recovery: recoveryConfig(file?.recovery, { reboot_command: profile === 'dev' ? devRebootCommand() : ['systemctl', 'reboot'] }),
    policy: {
      tick_interval_ms: file?.policy?.tick_interval ?? 1_000,
      extra_dirs: [...(file?.policy?.extra_dirs ?? [])],
      examples: file?.policy?.examples ?? profile === 'dev',
      webhook: {
        url: file?.policy?.webhook?.url ?? null,
        timeout_ms: file?.policy?.webhook?.timeout ?? 5_000,
        retries: file?.policy?.webhook?.retries ?? 3,
        backoff_ms: file?.policy?.webhook?.backoff ?? 1_000,
        max_backoff_ms: file?.policy?.webhook?.max_backoff ?? 30_000,
        queue_max: file?.policy?.webhook?.queue_max ?? 100,
      },
    },
    evidence: {
      schedule: file?.evidence?.schedule === 'off' ? null : (file?.evidence?.schedule ?? d.evidence_schedule),
      keep: file?.evidence?.keep ?? 20,
      max_bytes: file?.evidence?.max_bytes ?? 512 * 1024 * 1024,
      incident_max: file?.evidence?.incident_max ?? 3,
      incident_per_ms: file?.evidence?.incident_per ?? 3_600_000,
      window_before_ms: file?.evidence?.window_before ?? 15 * 60_000,
      window_after_ms: file?.evidence?.window_after ?? 60_000,
      default_window_ms: file?.evidence?.default_window ?? 24 * 3_600_000,
    },
    spooler: spoolerConfig(file?.spooler, profile),
    proxy: proxyConfig(file?.proxy),
    bundles: {
      max_bytes: file?.bundles?.max_bytes ?? 2 * 1024 * 1024 * 1024,
      max_files: file?.bundles?.max_files ?? 100_000,
      max_path_length: file?.bundles?.max_path_length ?? 1024,
      signature_threshold: file?.bundles?.signature_threshold ?? 1,
      trial_ms: file?.bundles?.trial ?? 10_000,
      max_trial_starts: file?.bundles?.max_trial_starts ?? 3,
      max_attempts: file?.bundles?.max_attempts ?? 3,
      inbox_stable_ms: file?.bundles?.inbox_stable ?? 1_000,
    },
    fleet: fleetConfig(file?.fleet),
    alerting: alertingConfig(file?.alerting, file?.policy?.webhook?.url, file?.policy?.webhook?.timeout ?? 5_000),
    tracing: tracingConfig(file?.tracing),
    chaos: file?.chaos ? { seed: file.chaos.seed ?? 1, rules: file.chaos.rules.map(chaosRule) } : null,
  });
}
