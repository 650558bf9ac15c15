import type { ProxyConfig, ProxyRouteConfig, ProxyUpstreamConfig } from '../config/index.js';

export type UpstreamSettings = ProxyUpstreamConfig;
export type RouteSettings = ProxyRouteConfig;
/** The effective `proxy:` config section. */
export type ProxySettings = ProxyConfig;

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
