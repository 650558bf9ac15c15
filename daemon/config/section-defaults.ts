import type { ConfigFile, Profile, ProxyConfig, SpoolRateConfig, SpoolerConfig } from './schema.js';

type SpoolFile = NonNullable<ConfigFile['spooler']>;
type RateFile = SpoolFile['rate'];

function rate(r: RateFile, fallback: SpoolRateConfig | undefined): SpoolRateConfig | undefined {
  if (r === false) return undefined;
  if (r === undefined) return fallback;
  return { lines_per_s: r.lines_per_s, bytes_per_s: r.bytes_per_s, burst_s: (r.burst ?? 2_000) / 1000 };
}

/** The effective `spooler:` section over the profile's defaults. */
export function spoolerConfig(f: SpoolFile | undefined, profile: Profile): SpoolerConfig {
  const prod = profile === 'prod';
  const defaultRate: SpoolRateConfig = { lines_per_s: 1_000, bytes_per_s: 256 * 1024, burst_s: 2 };
  const defaults = {
    backpressure: f?.backpressure ?? 'block',
    rate: rate(f?.rate, defaultRate),
    max_line_bytes: f?.max_line ?? 8 * 1024,
  } as const;
  const sources: Record<string, Partial<SpoolerConfig['defaults']>> = {};
  for (const [name, s] of Object.entries(f?.sources ?? {})) {
    sources[name] = {
      ...(s.backpressure ? { backpressure: s.backpressure } : {}),
      ...(s.rate !== undefined ? { rate: rate(s.rate, defaults.rate) } : {}),
      ...(s.max_line !== undefined ? { max_line_bytes: s.max_line } : {}),
    };
  }
  return {
    enabled: f?.enabled ?? true,
    flush_interval_ms: f?.flush_interval ?? (prod ? 1_000 : 200),
    batch_bytes: f?.batch ?? 64 * 1024,
    fsync: f?.fsync ?? 'interval',
    fsync_interval_ms: f?.fsync_interval ?? (prod ? 30_000 : 5_000),
    rotate_bytes: f?.rotate_size ?? 1024 * 1024,
    rotate_age_ms: f?.rotate_age ?? 86_400_000,
    keep_files: f?.keep_files ?? 10,
    max_age_ms: f?.max_age ?? 14 * 86_400_000,
    quota_bytes: f?.quota ?? 64 * 1024 * 1024,
    min_free_bytes: f?.min_free ?? 32 * 1024 * 1024,
    disk_check_interval_ms: f?.disk_check_interval ?? 1_000,
    buffer_bytes: f?.buffer ?? 1024 * 1024,
    report_interval_ms: f?.report_interval ?? 60_000,
    // the built-in rules live in the redactor itself (security/redaction.ts) and always apply
    redact: [...(f?.redact ?? [])],
    socket: f?.socket ?? true,
    socket_mode: Number.parseInt(f?.socket_mode ?? '0666', 8),
    defaults,
    sources,
  };
}

type ProxyFile = NonNullable<ConfigFile['proxy']>;

/** The effective `proxy:` section; off unless `enabled: true`. */
export function proxyConfig(f: ProxyFile | undefined): ProxyConfig {
  const maxBody = f?.max_body ?? 256 * 1024;
  const upstreams: Record<string, ProxyConfig['upstreams'][string]> = {};
  for (const [name, u] of Object.entries(f?.upstreams ?? {})) {
    upstreams[name] = {
      url: u.url,
      queue: u.queue ?? 64,
      max_in_flight: u.max_in_flight ?? 4,
      timeout_ms: u.timeout ?? 10_000,
      breaker_failures: u.breaker?.failures ?? 5,
      breaker_open_ms: u.breaker?.open_for ?? 30_000,
      retry_base_ms: u.retry?.base ?? 500,
      retry_max_ms: u.retry?.max ?? 60_000,
    };
  }
  return {
    enabled: f?.enabled ?? false,
    listen: f?.listen ?? '127.0.0.1:8118',
    max_body_bytes: maxBody,
    client_requests_per_s: f?.client_rate?.requests_per_s ?? 50,
    client_burst_s: (f?.client_rate?.burst ?? 2_000) / 1000,
    spool_max_bytes: f?.spool_max ?? 16 * 1024 * 1024,
    upstreams,
    routes: (f?.routes ?? []).map((r) => ({
      name: r.name,
      upstream: r.upstream,
      methods: r.methods ?? ['POST'],
      path: r.path,
      durable: r.durable ?? false,
      max_body_bytes: r.max_body ?? maxBody,
      strip_headers: (r.strip_headers ?? []).map((h) => h.toLowerCase()),
      set_headers: Object.fromEntries(Object.entries(r.set_headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
      json_schema: r.json_schema,
    })),
  };
}
