import { z } from 'zod';
import { validate as validateCron } from 'node-cron';
import { CRON_RE } from './cron-pattern.js';
import { type ChaosRule, boundedDuration, boundedSize, chaosSchema, linearRegExp } from '../core/index.js';
import { type FleetConfig, fleetSchema } from './fleet-schema.js';
import { type RecoveryConfig, type ServiceSpec, recoverySchema, servicesSchema, undeclaredSecretIssues } from './services-schema.js';
import { type AlertingConfig, type TracingConfig, alertingSchema, tracingSchema } from './observability-schema.js';

export const CONFIG_SCHEMA_VERSION = 2;
export const PROFILES = ['dev', 'prod'] as const;
export type Profile = (typeof PROFILES)[number];

const identifier = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected 1-64 letters, digits, "_", "." or "-"');

export const deviceSchema = z.strictObject({
  device_id: identifier.optional().describe('defaults to one derived from /etc/machine-id'),
  app_id: identifier.optional(),
  environment: identifier.optional(),
});

export const logSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).optional(),
  format: z.enum(['json', 'pretty']).optional(),
  /** Extra pino redaction paths on top of the built-in secret names. */
  redact: z.array(z.string().min(1)).optional(),
  /** Journal events at or above this severity are mirrored to the log (journald under systemd); `off` for none. */
  events: z.enum(['info', 'notice', 'warning', 'error', 'critical', 'off']).optional(),
});

export const journalSchema = z.strictObject({
  /** Most events in one group commit. */
  batch_max: z.number().int().min(1).max(10_000).optional(),
  /** How long an append may wait for others to share its commit. */
  batch_delay_ms: z.number().int().min(0).max(1_000).optional(),
});

export const artifactsSchema = z.strictObject({
  flush_interval: boundedDuration('100ms', '1h').optional(),
  keep_runs: z.number().int().min(1).max(10_000).optional(),
  max_bytes: boundedSize('1MiB', '1024GiB').optional(),
  /**
   * live (default): metrics.csv gets the run's samples every flush interval, for whatever reads it while the
   * daemon runs. at_stop: it keeps its header while the run lasts and gets the samples at a clean stop (or,
   * after a crash, at the next start) — the CSV text is most of what the daemon writes to storage.
   */
  metrics_csv: z.enum(['live', 'at_stop']).optional(),
});

/**
 * Where a secret comes from. The config names the source, never the value, so the config, its hash, the
 * journal and evidence packs never hold a secret.
 */
export const secretSourceSchema = z.union([
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name') }),
  z.strictObject({ file: z.string().min(1) }),
  /** A systemd credential (LoadCredential=), read from $CREDENTIALS_DIRECTORY. */
  z.strictObject({ credential: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a credential name') }),
]);
export type SecretSource = z.infer<typeof secretSourceSchema>;

const groupName = z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'expected a group name');

export const apiSchema = z.strictObject({
  /** A group whose members alone may use the token socket `waveos.sock` (0660); unset, anyone may try a token (prod, 0666). */
  socket_group: groupName.optional(),
  /** Members connect to `waveos-admin.sock` and are admin without a token (docs/security.md). */
  admin_group: groupName.optional(),
  /** Members connect to `waveos-ro.sock` and are viewers without a token. */
  viewer_group: groupName.optional(),
  /** Failed authentications a socket answers in a burst before it throttles (then one a second). */
  auth_failure_burst: z.number().int().min(1).max(100_000).optional(),
});

export const TELEMETRY_COLLECTORS = [
  'cpu',
  'load',
  'memory',
  'pressure',
  'self',
  'services',
  'filesystem',
  'diskstats',
  'net',
  'temperature',
  'queues',
  'spool',
  'events',
  'health',
] as const;
export type TelemetryCollector = (typeof TELEMETRY_COLLECTORS)[number];

const collectorToggle = z.union([
  z.boolean(),
  z.strictObject({ enabled: z.boolean().optional(), interval: boundedDuration('100ms', '1d').optional(), timeout: boundedDuration('10ms', '5m').optional() }),
]);
const healthWeight = z.strictObject({ points: z.number().min(0).max(100).optional(), max: z.number().min(0).max(100).optional() });

export const telemetrySchema = z.strictObject({
  /** How often collectors sample (each may override its own). */
  sample_interval: boundedDuration('100ms', '1h').optional(),
  /** How often buffered samples are written to the journal. */
  flush_interval: boundedDuration('100ms', '1h').optional(),
  collector_timeout: boundedDuration('10ms', '5m').optional(),
  /** A series whose value has not changed is written to the history at most this often ("0s": every sample). */
  unchanged_every: boundedDuration('0s', '1d').optional(),
  /**
   * A sample taken within this of its sampling tick is stamped with the tick ("0ms": with the time it was
   * taken); at most half the sample interval.
   */
  stamp_tolerance: boundedDuration('0ms', '1s').optional(),
  /** Longest wait between retries of a failing collector. */
  max_backoff: boundedDuration('100ms', '1d').optional(),
  raw_retention: boundedDuration('1m', '400d').optional(),
  aggregate_retention: boundedDuration('1h', '3650d').optional(),
  /** Disk quota for the metric history (raw samples and aggregates) in the journal. */
  quota: boundedSize('1MiB', '64GiB').optional(),
  max_series: z.number().int().min(10).max(1_000_000).optional(),
  /** Sampling step of the event-loop delay histogram; each step wakes the process once. */
  loop_delay_resolution: boundedDuration('10ms', '10s').optional(),
  /** Recent points kept in memory per series for the policy engine's windows. */
  window_points: z.number().int().min(0).max(100_000).optional(),
  prometheus: z
    .strictObject({ enabled: z.boolean().optional(), host: z.string().min(1).optional(), port: z.number().int().min(0).max(65_535).optional() })
    .optional(),
  health: z
    .strictObject({
      window: boundedDuration('10s', '1d').optional(),
      weights: z
        .strictObject({
          service_restart: healthWeight.optional(),
          service_failed: healthWeight.optional(),
          budget_violation: healthWeight.optional(),
          breaker_trip: healthWeight.optional(),
          error_event_rate: healthWeight.optional(),
          disk_headroom: z.strictObject({ points: z.number().min(0).max(100).optional(), below: z.number().min(0).max(1).optional() }).optional(),
          collector_failure: healthWeight.optional(),
        })
        .optional(),
    })
    .optional(),
  collectors: z.strictObject(Object.fromEntries(TELEMETRY_COLLECTORS.map((c) => [c, collectorToggle.optional()])) as Record<TelemetryCollector, z.ZodOptional<typeof collectorToggle>>).optional(),
  gpu: z.strictObject({ enabled: z.boolean().optional(), command: z.string().min(1).optional(), interval: boundedDuration('1s', '1d').optional() }).optional(),
});

export interface TelemetryWeight {
  readonly points: number;
  readonly max: number;
}

export interface TelemetryConfig {
  readonly sample_interval_ms: number;
  readonly flush_interval_ms: number;
  readonly collector_timeout_ms: number;
  readonly unchanged_every_ms: number;
  readonly stamp_tolerance_ms: number;
  readonly max_backoff_ms: number;
  readonly raw_retention_ms: number;
  readonly aggregate_retention_ms: number;
  readonly quota_bytes: number;
  readonly max_series: number;
  readonly window_points: number;
  readonly loop_delay_resolution_ms: number;
  readonly prometheus: { readonly enabled: boolean; readonly host: string; readonly port: number };
  readonly health: {
    readonly window_ms: number;
    readonly weights: {
      readonly service_restart: TelemetryWeight;
      readonly service_failed: TelemetryWeight;
      readonly budget_violation: TelemetryWeight;
      readonly breaker_trip: TelemetryWeight;
      readonly error_event_rate: TelemetryWeight;
      readonly disk_headroom: { readonly points: number; readonly below: number };
      readonly collector_failure: TelemetryWeight;
    };
  };
  readonly collectors: Readonly<Record<TelemetryCollector, { readonly enabled: boolean; readonly interval_ms: number; readonly timeout_ms: number }>>;
  readonly gpu: { readonly enabled: boolean; readonly command: string; readonly interval_ms: number };
}

export const policySchema = z.strictObject({
  /** How often breakers and other timers are evaluated when no sample arrives. */
  tick_interval: boundedDuration('100ms', '10m').optional(),
  /** More policy folders, read after the repo's examples and before etc/waveos/policies.d (relative to the root). */
  extra_dirs: z.array(z.string().min(1)).optional(),
  /** Load the repo's example and default policies from policies/ (default: on in dev, off in prod). */
  examples: z.boolean().optional(),
  webhook: z
    .strictObject({
      url: z.url({ protocol: /^https?$/ }).optional().describe('where webhook actions POST their JSON'),
      timeout: boundedDuration('100ms', '5m').optional(),
      retries: z.number().int().min(0).max(10).optional(),
      backoff: boundedDuration('10ms', '1h').optional(),
      max_backoff: boundedDuration('10ms', '1d').optional(),
      queue_max: z.number().int().min(1).max(10_000).optional(),
    })
    .optional(),
});

export const evidenceSchema = z.strictObject({
  /** A node-cron expression (`0 3 * * *` = daily at 03:00) or `off`. */
  schedule: z
    .string()
    .refine((s) => s === 'off' || (CRON_RE.test(s) && validateCron(s)), 'expected a cron expression such as "0 3 * * *" (daily at 03:00), or "off"')
    .optional(),
  /** Most packs kept in var/lib/waveos/evidence/; the oldest go first. */
  keep: z.number().int().min(1).max(10_000).optional(),
  /** Most bytes all packs may take together. */
  max_bytes: boundedSize('1MiB', '1024GiB').optional(),
  /** Incident exports allowed per `incident_per`; more are suppressed (and counted in an event). */
  incident_max: z.number().int().min(0).max(1_000).optional(),
  incident_per: boundedDuration('1m', '30d').optional(),
  /** How much history before an incident its pack holds, and how long after it the export waits. */
  window_before: boundedDuration('0s', '7d').optional(),
  window_after: boundedDuration('0s', '1d').optional(),
  /** The window of on-demand and scheduled exports when none is given. */
  default_window: boundedDuration('1m', '400d').optional(),
});
/** A regular expression, checked when the config is read so a bad one is a located config error. */
/** A redaction pattern: compiled for the linear-time engine, so one that could backtrack is refused here, located. */
const regexSchema = z
  .string()
  .min(1)
  .superRefine((p, ctx) => {
    try {
      linearRegExp(p);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `not usable as a redaction pattern: ${(e as Error).message}` });
    }
  });

export const spoolRateSchema = z.strictObject({
  lines_per_s: z.number().positive().optional(),
  bytes_per_s: boundedSize('1', '1GiB').optional(),
  /** How much of the rate may arrive at once, as a duration (the bucket's depth). */
  burst: boundedDuration('100ms', '1h').optional(),
});

export const spoolSourceSchema = z.strictObject({
  backpressure: z.enum(['block', 'drop']).optional(),
  /** `false` lifts the rate limit for this source. */
  rate: z.union([spoolRateSchema, z.literal(false)]).optional(),
  max_line: boundedSize('256', '1MiB').optional(),
});

/** The logging spooler (docs/spooler.md). */
export const spoolerSchema = z.strictObject({
  enabled: z.boolean().optional(),
  flush_interval: boundedDuration('10ms', '1m').optional(),
  batch: boundedSize('1KiB', '16MiB').optional(),
  fsync: z.enum(['none', 'interval', 'every-batch']).optional(),
  fsync_interval: boundedDuration('10ms', '1h').optional(),
  rotate_size: boundedSize('4KiB', '1GiB').optional(),
  rotate_age: boundedDuration('1m', '30d').optional(),
  keep_files: z.number().int().min(0).max(100_000).optional(),
  max_age: boundedDuration('1m', '3650d').optional(),
  quota: boundedSize('64KiB', '1024GiB').optional(),
  min_free: boundedSize('0', '1024GiB').optional(),
  disk_check_interval: boundedDuration('100ms', '1h').optional(),
  buffer: boundedSize('4KiB', '256MiB').optional(),
  report_interval: boundedDuration('1s', '1d').optional(),
  redact: z.array(regexSchema).optional(),
  /** Accepted for older configs, without effect: the built-in rules are part of the redactor and always apply. */
  redact_defaults: z.boolean().optional(),
  socket: z.boolean().optional(),
  socket_mode: z.string().regex(/^0?[0-7]{3}$/, 'expected an octal file mode such as 0666 or 0660').optional(),
  backpressure: z.enum(['block', 'drop']).optional(),
  rate: z.union([spoolRateSchema, z.literal(false)]).optional(),
  max_line: boundedSize('256', '1MiB').optional(),
  sources: z.record(identifier, spoolSourceSchema).optional(),
});

export const proxyUpstreamSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  queue: z.number().int().min(1).max(100_000).optional(),
  max_in_flight: z.number().int().min(1).max(1_000).optional(),
  timeout: boundedDuration('100ms', '10m').optional(),
  breaker: z.strictObject({ failures: z.number().int().min(1).max(1_000).optional(), open_for: boundedDuration('100ms', '1d').optional() }).optional(),
  retry: z.strictObject({ base: boundedDuration('10ms', '1h').optional(), max: boundedDuration('10ms', '1d').optional() }).optional(),
});

export const proxyRouteSchema = z.strictObject({
  name: identifier,
  upstream: identifier,
  methods: z.array(z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'])).min(1).optional(),
  /** A path prefix on the local endpoint, e.g. /v1/telemetry; the request path is forwarded as it is. */
  path: z.string().regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/, 'expected an absolute URL path such as /v1/telemetry'),
  durable: z.boolean().optional(),
  max_body: boundedSize('1', '64MiB').optional(),
  strip_headers: z.array(z.string().min(1)).optional(),
  set_headers: z.record(z.string().min(1), z.string()).optional(),
  /** A JSON Schema the JSON body must satisfy. */
  json_schema: z.record(z.string(), z.unknown()).optional(),
});

/** The uplink proxy (docs/proxy.md), off by default. */
export const proxySchema = z.strictObject({
  enabled: z.boolean().optional(),
  /** `127.0.0.1:PORT` (loopback only) or `unix` for run/waveos/proxy.sock. */
  listen: z
    .string()
    .regex(/^(unix|(127\.0\.0\.1|localhost|\[::1\]):\d{1,5})$/, 'expected 127.0.0.1:PORT, [::1]:PORT or unix')
    .optional(),
  max_body: boundedSize('1', '64MiB').optional(),
  client_rate: z.strictObject({ requests_per_s: z.number().positive().optional(), burst: boundedDuration('100ms', '1h').optional() }).optional(),
  spool_max: boundedSize('64KiB', '4GiB').optional(),
  upstreams: z.record(identifier, proxyUpstreamSchema).optional(),
  routes: z.array(proxyRouteSchema).optional(),
})
  .superRefine((p, ctx) => {
    const names = Object.keys(p.upstreams ?? {});
    (p.routes ?? []).forEach((r, i) => {
      if (!names.includes(r.upstream))
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'upstream'], message: `no upstream named "${r.upstream}" (expected one of: ${names.join(', ') || 'none configured'})` });
      if (r.json_schema) {
        try {
          z.fromJSONSchema(r.json_schema as Parameters<typeof z.fromJSONSchema>[0]);
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: ['routes', i, 'json_schema'], message: `not a usable JSON Schema: ${(e as Error).message}` });
        }
      }
    });
  });

/** Signed bundles: verification limits, trial and loop-guard settings (docs/bundles.md). */
export const bundlesSchema = z.strictObject({
  max_bytes: boundedSize('4KiB', '64GiB').optional(),
  max_files: z.number().int().min(1).max(1_000_000).optional(),
  max_path_length: z.number().int().min(16).max(4096).optional(),
  signature_threshold: z.number().int().min(1).max(16).optional(),
  trial: boundedDuration('0s', '1d').optional(),
  max_trial_starts: z.number().int().min(1).max(100).optional(),
  max_attempts: z.number().int().min(1).max(100).optional(),
  inbox_stable: boundedDuration('10ms', '10m').optional(),
});

/** The config file as written by an operator (schema_version 2). */
export const configFileSchema = z.strictObject({
  schema_version: z.literal(CONFIG_SCHEMA_VERSION),
  profile: z.enum(PROFILES).optional(),
  device: deviceSchema.optional(),
  feature_flags: z.record(z.string().regex(/^[a-z][a-z0-9_.-]*$/), z.boolean()).optional(),
  log: logSchema.optional(),
  journal: journalSchema.optional(),
  artifacts: artifactsSchema.optional(),
  api: apiSchema.optional(),
  secrets: z.record(z.string().regex(/^[a-z][a-z0-9_.-]*$/, 'expected a lowercase secret name'), secretSourceSchema).optional(),
  telemetry: telemetrySchema.optional(),
  services: servicesSchema.optional(),
  recovery: recoverySchema.optional(),
  policy: policySchema.optional(),
  evidence: evidenceSchema.optional(),
  spooler: spoolerSchema.optional(),
  proxy: proxySchema.optional(),
  bundles: bundlesSchema.optional(),
  /** The fleet link (docs/fleet-protocol.md). */
  fleet: fleetSchema.optional(),
  /** Alert receivers and routes (docs/observability.md). */
  alerting: alertingSchema.optional(),
  /** OpenTelemetry traces (docs/observability.md); the SDK is loaded only when enabled. */
  tracing: tracingSchema.optional(),
  /** Failure injection for test rigs (docs/hil.md); refused in the prod profile. */
  chaos: chaosSchema.optional(),
}).superRefine((c, ctx) => {
  for (const issue of undeclaredSecretIssues(c.services, Object.keys(c.secrets ?? {}))) ctx.addIssue({ code: 'custom', ...issue });
  for (const [name, r] of Object.entries(c.alerting?.receivers ?? {})) {
    for (const key of ['url_secret', 'password_secret'] as const) {
      const s = (r as Partial<Record<typeof key, string>>)[key];
      if (s !== undefined && !Object.hasOwn(c.secrets ?? {}, s))
        ctx.addIssue({ code: 'custom', path: ['alerting', 'receivers', name, key], message: `secret "${s}" is not declared under secrets:` });
    }
  }
});
export type ConfigFile = z.output<typeof configFileSchema>;

/** The effective config: file values over the profile's defaults, every field present. */
export interface Config {
  readonly schema_version: number;
  readonly profile: Profile;
  readonly device: { readonly device_id: string; readonly app_id: string; readonly environment: string };
  readonly feature_flags: Readonly<Record<string, boolean>>;
  readonly log: { readonly level: string; readonly format: 'json' | 'pretty'; readonly redact: readonly string[]; readonly events: 'info' | 'notice' | 'warning' | 'error' | 'critical' | 'off' };
  readonly journal: { readonly batch_max: number; readonly batch_delay_ms: number };
  readonly artifacts: { readonly flush_interval_ms: number; readonly keep_runs: number; readonly max_bytes: number; readonly metrics_csv: 'live' | 'at_stop' };
  readonly api: { readonly socket_group: string | null; readonly admin_group: string; readonly viewer_group: string; readonly auth_failure_burst: number };
  readonly secrets: Readonly<Record<string, SecretSource>>;
  readonly telemetry: TelemetryConfig;
  readonly services: readonly ServiceSpec[];
  readonly recovery: RecoveryConfig;
  readonly policy: {
    readonly tick_interval_ms: number;
    readonly extra_dirs: readonly string[];
    readonly examples: boolean;
    readonly webhook: {
      readonly url: string | null;
      readonly timeout_ms: number;
      readonly retries: number;
      readonly backoff_ms: number;
      readonly max_backoff_ms: number;
      readonly queue_max: number;
    };
  };
  readonly evidence: {
    readonly schedule: string | null;
    readonly keep: number;
    readonly max_bytes: number;
    readonly incident_max: number;
    readonly incident_per_ms: number;
    readonly window_before_ms: number;
    readonly window_after_ms: number;
    readonly default_window_ms: number;
  };
  readonly spooler: SpoolerConfig;
  readonly proxy: ProxyConfig;
  readonly bundles: {
    readonly max_bytes: number;
    readonly max_files: number;
    readonly max_path_length: number;
    readonly signature_threshold: number;
    readonly trial_ms: number;
    readonly max_trial_starts: number;
    readonly max_attempts: number;
    readonly inbox_stable_ms: number;
  };
  readonly fleet: FleetConfig;
  readonly alerting: AlertingConfig;
  readonly tracing: TracingConfig;
  /** Failure injection; null unless the config has a `chaos:` section. */
  readonly chaos: { readonly seed: number; readonly rules: readonly ChaosRule[] } | null;
}

/** Per-source rate limit; either figure may be absent (no limit on that axis). */
export interface SpoolRateConfig {
  readonly lines_per_s?: number;
  readonly bytes_per_s?: number;
  /** How many seconds of the rate may arrive at once (the bucket's depth). */
  readonly burst_s: number;
}

export interface SpoolSourceConfig {
  readonly backpressure: 'block' | 'drop';
  readonly rate: SpoolRateConfig | undefined;
  readonly max_line_bytes: number;
}

/** The effective `spooler:` section: sizes in bytes, durations in ms. */
export interface SpoolerConfig {
  readonly enabled: boolean;
  readonly flush_interval_ms: number;
  /** A batch this big is written at once, without waiting for the flush interval. */
  readonly batch_bytes: number;
  readonly fsync: 'none' | 'interval' | 'every-batch';
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
  readonly defaults: SpoolSourceConfig;
  readonly sources: Readonly<Record<string, Partial<SpoolSourceConfig>>>;
}

export interface ProxyUpstreamConfig {
  readonly url: string;
  /** Requests waiting for a free slot, beyond those in flight. */
  readonly queue: number;
  readonly max_in_flight: number;
  readonly timeout_ms: number;
  readonly breaker_failures: number;
  readonly breaker_open_ms: number;
  readonly retry_base_ms: number;
  readonly retry_max_ms: number;
}

export interface ProxyRouteConfig {
  readonly name: string;
  readonly upstream: string;
  readonly methods: readonly string[];
  /** A path prefix on the local endpoint; the request's path is forwarded as it is. */
  readonly path: string;
  readonly durable: boolean;
  readonly max_body_bytes: number;
  /** Lower-case header names removed before forwarding. */
  readonly strip_headers: readonly string[];
  /** Lower-case header names set (replaced) before forwarding. */
  readonly set_headers: Readonly<Record<string, string>>;
  readonly json_schema: Readonly<Record<string, unknown>> | undefined;
}

/** The effective `proxy:` section. */
export interface ProxyConfig {
  readonly enabled: boolean;
  /** `127.0.0.1:PORT`, `[::1]:PORT` or `unix`. */
  readonly listen: string;
  readonly max_body_bytes: number;
  readonly client_requests_per_s: number;
  readonly client_burst_s: number;
  /** Bytes of the on-disk store-and-forward queue, per upstream. */
  readonly spool_max_bytes: number;
  readonly upstreams: Readonly<Record<string, ProxyUpstreamConfig>>;
  readonly routes: readonly ProxyRouteConfig[];
}

/** Keys whose change takes effect only after a daemon restart (all of them, until hot reload lands). */
export const RESTART_REQUIRED = ['device', 'journal', 'artifacts', 'log', 'telemetry', 'services', 'recovery', 'evidence', 'api', 'secrets', 'fleet', 'alerting', 'tracing'] as const;
