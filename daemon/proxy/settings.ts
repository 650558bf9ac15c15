export interface UpstreamSettings {
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

export interface RouteSettings {
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

/** The effective `proxy:` config section. */
export interface ProxySettings {
  readonly enabled: boolean;
  /** `127.0.0.1:PORT`, `[::1]:PORT` or `unix`. */
  readonly listen: string;
  readonly max_body_bytes: number;
  readonly client_requests_per_s: number;
  readonly client_burst_s: number;
  /** Bytes of the on-disk store-and-forward queue, per upstream. */
  readonly spool_max_bytes: number;
  readonly upstreams: Readonly<Record<string, UpstreamSettings>>;
  readonly routes: readonly RouteSettings[];
}

export function upstreamSettings(url: string, over: Partial<UpstreamSettings> = {}): UpstreamSettings {
  return {
    url,
    queue: 64,
    max_in_flight: 4,
    timeout_ms: 10_000,
    breaker_failures: 5,
    breaker_open_ms: 30_000,
    retry_base_ms: 500,
    retry_max_ms: 60_000,
    ...over,
  };
}

export function routeSettings(name: string, upstream: string, path: string, over: Partial<RouteSettings> = {}): RouteSettings {
  return {
    name,
    upstream,
    methods: ['POST'],
    path,
    durable: false,
    max_body_bytes: 256 * 1024,
    strip_headers: [],
    set_headers: {},
    json_schema: undefined,
    ...over,
  };
}
