import type { Config, ConfigFile, Profile } from './schema.js';
import { CONFIG_SCHEMA_VERSION } from './schema.js';

interface ProfileDefaults {
  environment: string;
  log_format: 'json' | 'pretty';
  flush_interval_ms: number;
}

const PROFILE_DEFAULTS: Record<Profile, ProfileDefaults> = {
  dev: { environment: 'development', log_format: 'pretty', flush_interval_ms: 5_000 },
  prod: { environment: 'production', log_format: 'json', flush_interval_ms: 60_000 },
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
    },
    journal: {
      batch_max: file?.journal?.batch_max ?? 256,
      batch_delay_ms: file?.journal?.batch_delay_ms ?? 2,
    },
    artifacts: {
      flush_interval_ms: file?.artifacts?.flush_interval ?? d.flush_interval_ms,
      keep_runs: file?.artifacts?.keep_runs ?? 20,
      max_bytes: file?.artifacts?.max_bytes ?? 256 * 1024 * 1024,
    },
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
  });
}
