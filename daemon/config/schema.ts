import { z } from 'zod';
import { parseDuration, parseSize } from '../core/index.js';

export const CONFIG_SCHEMA_VERSION = 2;
export const PROFILES = ['dev', 'prod'] as const;
export type Profile = (typeof PROFILES)[number];

/** "5s", "500ms", "1m": kept as text in the file, turned into milliseconds here. */
export const durationSchema = z
  .string()
  .describe('a duration such as 500ms, 5s, 1m, 2h or 30d')
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 500ms, 5s, 1m, 2h or 30d, got "${text}"` });
      return z.NEVER;
    }
    return ms;
  });

export const sizeSchema = z
  .union([z.number().int().nonnegative(), z.string()])
  .describe('a size in bytes, or with a unit: 512KiB, 256MiB, 1GB')
  .transform((v, ctx) => {
    const bytes = typeof v === 'number' ? v : parseSize(v);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 4096, 512KiB or 256MiB, got "${v}"` });
      return z.NEVER;
    }
    return bytes;
  });

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
});

export const journalSchema = z.strictObject({
  /** Most events in one group commit. */
  batch_max: z.number().int().min(1).max(10_000).optional(),
  /** How long an append may wait for others to share its commit. */
  batch_delay_ms: z.number().int().min(0).max(1_000).optional(),
});

export const artifactsSchema = z.strictObject({
  flush_interval: durationSchema.optional(),
  keep_runs: z.number().int().min(1).max(10_000).optional(),
  max_bytes: sizeSchema.optional(),
});

/** A regular expression, checked when the config is read so a bad one is a located config error. */
const regexSchema = z
  .string()
  .min(1)
  .superRefine((p, ctx) => {
    try {
      new RegExp(p, 'i');
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(e as Error).message}` });
    }
  });

export const spoolRateSchema = z.strictObject({
  lines_per_s: z.number().positive().optional(),
  bytes_per_s: sizeSchema.optional(),
  /** How much of the rate may arrive at once, as a duration (the bucket's depth). */
  burst: durationSchema.optional(),
});

export const spoolSourceSchema = z.strictObject({
  backpressure: z.enum(['block', 'drop']).optional(),
  /** `false` lifts the rate limit for this source. */
  rate: z.union([spoolRateSchema, z.literal(false)]).optional(),
  max_line: sizeSchema.optional(),
});

/** The logging spooler (docs/spooler.md). */
export const spoolerSchema = z.strictObject({
  enabled: z.boolean().optional(),
  flush_interval: durationSchema.optional(),
  batch: sizeSchema.optional(),
  fsync: z.enum(['none', 'interval', 'every-batch']).optional(),
  fsync_interval: durationSchema.optional(),
  rotate_size: sizeSchema.optional(),
  rotate_age: durationSchema.optional(),
  keep_files: z.number().int().min(0).max(100_000).optional(),
  max_age: durationSchema.optional(),
  quota: sizeSchema.optional(),
  min_free: sizeSchema.optional(),
  disk_check_interval: durationSchema.optional(),
  buffer: sizeSchema.optional(),
  report_interval: durationSchema.optional(),
  redact: z.array(regexSchema).optional(),
  /** Keep the built-in secret patterns in front of `redact` (default true). */
  redact_defaults: z.boolean().optional(),
  socket: z.boolean().optional(),
  socket_mode: z.string().regex(/^0?[0-7]{3}$/, 'expected an octal file mode such as 0666 or 0660').optional(),
  backpressure: z.enum(['block', 'drop']).optional(),
  rate: z.union([spoolRateSchema, z.literal(false)]).optional(),
  max_line: sizeSchema.optional(),
  sources: z.record(identifier, spoolSourceSchema).optional(),
});

export const proxyUpstreamSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  queue: z.number().int().min(1).max(100_000).optional(),
  max_in_flight: z.number().int().min(1).max(1_000).optional(),
  timeout: durationSchema.optional(),
  breaker: z.strictObject({ failures: z.number().int().min(1).max(1_000).optional(), open_for: durationSchema.optional() }).optional(),
  retry: z.strictObject({ base: durationSchema.optional(), max: durationSchema.optional() }).optional(),
});

export const proxyRouteSchema = z.strictObject({
  name: identifier,
  upstream: identifier,
  methods: z.array(z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'])).min(1).optional(),
  /** A path prefix on the local endpoint, e.g. /v1/telemetry; the request path is forwarded as it is. */
  path: z.string().regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/, 'expected an absolute URL path such as /v1/telemetry'),
  durable: z.boolean().optional(),
  max_body: sizeSchema.optional(),
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
  max_body: sizeSchema.optional(),
  client_rate: z.strictObject({ requests_per_s: z.number().positive().optional(), burst: durationSchema.optional() }).optional(),
  spool_max: sizeSchema.optional(),
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

/** The config file as written by an operator (schema_version 2). */
export const configFileSchema = z.strictObject({
  schema_version: z.literal(CONFIG_SCHEMA_VERSION),
  profile: z.enum(PROFILES).optional(),
  device: deviceSchema.optional(),
  feature_flags: z.record(z.string().regex(/^[a-z][a-z0-9_.-]*$/), z.boolean()).optional(),
  log: logSchema.optional(),
  journal: journalSchema.optional(),
  artifacts: artifactsSchema.optional(),
  spooler: spoolerSchema.optional(),
  proxy: proxySchema.optional(),
});
export type ConfigFile = z.output<typeof configFileSchema>;

/** The effective config: file values over the profile's defaults, every field present. */
export interface Config {
  readonly schema_version: number;
  readonly profile: Profile;
  readonly device: { readonly device_id: string; readonly app_id: string; readonly environment: string };
  readonly feature_flags: Readonly<Record<string, boolean>>;
  readonly log: { readonly level: string; readonly format: 'json' | 'pretty'; readonly redact: readonly string[] };
  readonly journal: { readonly batch_max: number; readonly batch_delay_ms: number };
  readonly artifacts: { readonly flush_interval_ms: number; readonly keep_runs: number; readonly max_bytes: number };
  readonly spooler: SpoolerConfig;
  readonly proxy: ProxyConfig;
}

export interface SpoolRateConfig {
  readonly lines_per_s?: number;
  readonly bytes_per_s?: number;
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
  readonly batch_bytes: number;
  readonly fsync: 'none' | 'interval' | 'every-batch';
  readonly fsync_interval_ms: number;
  readonly rotate_bytes: number;
  readonly rotate_age_ms: number;
  readonly keep_files: number;
  readonly max_age_ms: number;
  readonly quota_bytes: number;
  readonly min_free_bytes: number;
  readonly disk_check_interval_ms: number;
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
  readonly path: string;
  readonly durable: boolean;
  readonly max_body_bytes: number;
  readonly strip_headers: readonly string[];
  readonly set_headers: Readonly<Record<string, string>>;
  readonly json_schema: Readonly<Record<string, unknown>> | undefined;
}

/** The effective `proxy:` section. */
export interface ProxyConfig {
  readonly enabled: boolean;
  readonly listen: string;
  readonly max_body_bytes: number;
  readonly client_requests_per_s: number;
  readonly client_burst_s: number;
  readonly spool_max_bytes: number;
  readonly upstreams: Readonly<Record<string, ProxyUpstreamConfig>>;
  readonly routes: readonly ProxyRouteConfig[];
}

/** Keys whose change takes effect only after a daemon restart (all of them, until hot reload lands). */
export const RESTART_REQUIRED = ['device', 'journal', 'artifacts', 'log'] as const;
