export { type BreakerState, CircuitBreaker } from './breaker.js';
export { DurableQueue, type StoredRequest } from './durable-queue.js';
export { type ProxyDeps, type ProxyEvent, type ProxyStats, type UpstreamStats, UplinkProxy, createProxy } from './proxy.js';
export { type ProxySettings, type RouteSettings, type UpstreamSettings, routeSettings, upstreamSettings } from './settings.js';
