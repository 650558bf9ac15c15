import { randomUUID } from 'node:crypto';
import { chmodSync, unlinkSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Chaos, type Clock, type Lifecycle, type Logger, TokenBucket, errorMessage, isoUtc } from '../core/index.js';
import type { EventKind } from '../journal/index.js';
import { type BreakerState, CircuitBreaker } from './breaker.js';
import { DurableQueue, type StoredRequest } from './durable-queue.js';
import { type CompiledRoute, compileRoutes, forwardHeaders, matchRoute, normalisePath, responseHeaders } from './rules.js';
import type { ProxySettings, UpstreamSettings } from './settings.js';

/** An event as the journal takes it. */
export interface ProxyEvent {
  kind: EventKind;
  severity?: 'info' | 'notice' | 'warning' | 'error' | 'critical';
  source: string;
  reason: string;
  data?: Record<string, unknown>;
}

export interface ProxyDeps {
  clock: Clock;
  log: Logger;
  settings: ProxySettings;
  /** `var/lib/waveos/proxy`: one store-and-forward queue folder per upstream. */
  dir: string;
  /** Where to listen when `settings.listen` is `unix` (`run/waveos/proxy.sock`). */
  socketPath: string;
  events?: { append(e: ProxyEvent): unknown };
  /** For the backoff's jitter; tests pass a fixed one. */
  random?: () => number;
  /** Failure injection at each upstream call: a refused connection or a stall (test rigs only). */
  chaos?: Chaos;
}

export interface UpstreamStats {
  /** Live requests waiting for a slot. */
  queue_depth: number;
  in_flight: number;
  /** Accepted durable requests not yet delivered, and their bytes on disk. */
  spooled: number;
  spooled_bytes: number;
  forwarded: number;
  delivered: number;
  retries: number;
  dropped: number;
  failures: number;
  breaker: BreakerState;
}

export interface ProxyStats {
  upstreams: Record<string, UpstreamStats>;
  refused: Record<string, number>;
  clients: number;
}

interface Upstream {
  name: string;
  settings: UpstreamSettings;
  url: URL;
  breaker: CircuitBreaker;
  waiting: (() => void)[];
  inFlight: number;
  queue: DurableQueue | undefined;
  delivering: boolean;
  attempt: number;
  backlogSince: number | undefined;
  counters: { forwarded: number; delivered: number; retries: number; dropped: number; failures: number };
}

interface Sent {
  status: number;
}

const MAX_CLIENTS = 1_000;
const HTTP_REASON: Record<number, string> = { 400: 'bad_request', 404: 'no_route', 405: 'method', 413: 'too_large', 415: 'media_type', 422: 'invalid_body', 429: 'rate_limited', 502: 'upstream_failed', 503: 'unavailable' };

/**
 * The uplink proxy: a local HTTP endpoint that forwards allowed requests to configured upstreams, refuses
 * everything else with a clear 4xx and an event, bounds what waits per upstream, and stores requests of
 * durable routes on disk to deliver them in order, at least once, when the upstream is reachable.
 */
export class UplinkProxy implements Lifecycle {
  readonly name = 'proxy';
  private readonly routes: CompiledRoute[];
  private readonly upstreams = new Map<string, Upstream>();
  private readonly clients = new Map<string, TokenBucket>();
  private readonly refusedCount: Record<string, number> = {};
  private readonly lastRefusalEvent = new Map<string, { at: number; since: number }>();
  private server: Server | undefined;
  private readonly abort = new AbortController();
  private readonly random: () => number;

  constructor(private readonly deps: ProxyDeps) {
    const s = deps.settings;
    this.random = deps.random ?? Math.random;
    this.routes = compileRoutes(s.routes, Object.keys(s.upstreams));
    for (const [name, u] of Object.entries(s.upstreams)) {
      this.upstreams.set(name, {
        name,
        settings: u,
        url: new URL(u.url),
        breaker: new CircuitBreaker(u.breaker_failures, u.breaker_open_ms),
        waiting: [],
        inFlight: 0,
        queue: undefined,
        delivering: false,
        attempt: 0,
        backlogSince: undefined,
        counters: { forwarded: 0, delivered: 0, retries: 0, dropped: 0, failures: 0 },
      });
    }
    for (const r of this.routes) {
      const up = this.upstreams.get(r.upstream);
      if (r.durable && up && !up.queue) up.queue = new DurableQueue(join(deps.dir, up.name), s.spool_max_bytes);
    }
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.onRequest(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 60_000;
    const listen = this.deps.settings.listen;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (listen === 'unix') {
        try {
          unlinkSync(this.deps.socketPath);
        } catch {
          // none left behind
        }
        server.listen(this.deps.socketPath, () => resolve());
      } else {
        const i = listen.lastIndexOf(':');
        server.listen(Number(listen.slice(i + 1)), listen.slice(0, i).replace(/^\[|\]$/g, ''), () => resolve());
      }
    });
    if (listen === 'unix') chmodSync(this.deps.socketPath, 0o666);
    this.server = server;
    for (const up of this.upstreams.values()) if (up.queue && up.queue.depth > 0) this.kick(up);
    this.deps.log.info({ listen: this.where() }, `uplink proxy listening on ${this.where()}`);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    for (const up of this.upstreams.values()) up.queue?.close();
  }

  /** Where it listens: `127.0.0.1:PORT` (the real port when configured as 0) or the socket path. */
  where(): string {
    const a = this.server?.address();
    if (!a) return this.deps.settings.listen;
    if (typeof a === 'string') return a;
    const info = a as AddressInfo;
    return `${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`;
  }

  // --- requests -------------------------------------------------------------------------------------

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.handle(req, res);
    } catch (e) {
      this.deps.log.warn({ err: errorMessage(e) }, 'proxy request failed');
      if (!res.headersSent) this.refuse(res, 502, `forwarding failed: ${errorMessage(e)}`, undefined);
      else res.destroy();
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = this.deps.settings;
    const now = this.deps.clock.monoMs();
    // The limit is keyed on the peer address, which the proxy can verify, never on a header the client picks
    // (a fresh X-Waveos-Client per request would be a fresh bucket each time).
    const client = req.socket.remoteAddress || 'local';
    const bucket = this.clientBucket(client, now);
    if (!bucket.take(now)) {
      const wait = bucket.waitMs(now);
      return this.refuse(res, 429, `client ${client} is over its limit of ${s.client_requests_per_s} requests/s`, undefined, { 'retry-after': secs(wait) }, { client });
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://proxy');
    } catch {
      return this.refuse(res, 400, 'malformed request URL', undefined);
    }
    const norm = normalisePath(req.url ?? '/');
    if (!norm.ok) return this.refuse(res, 400, `refused path: ${norm.why}`, undefined, {}, { path: url.pathname });
    const route = matchRoute(this.routes, norm.path);
    if (!route) return this.refuse(res, 404, `no route allows ${norm.path}`, undefined, {}, { path: norm.path });
    const method = req.method ?? 'GET';
    if (!route.methods.includes(method))
      return this.refuse(res, 405, `route ${route.name} allows ${route.methods.join(', ')}, not ${method}`, route, { allow: route.methods.join(', ') }, { method });
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > route.max_body_bytes) {
      // read and discard what the client sends, so it hears the answer instead of a reset connection
      req.resume();
      return this.refuse(res, 413, `body of ${declared} bytes is over route ${route.name}'s limit of ${route.max_body_bytes}`, route, {}, { bytes: declared });
    }
    const body = await readBody(req, route.max_body_bytes);
    if (body === undefined) return this.refuse(res, 413, `body is over route ${route.name}'s limit of ${route.max_body_bytes} bytes`, route, {}, {});
    if (route.validate) {
      const type = String(req.headers['content-type'] ?? '');
      if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type)) return this.refuse(res, 415, `route ${route.name} takes application/json, not "${type || 'nothing'}"`, route);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch (e) {
        return this.refuse(res, 400, `the body is not valid JSON: ${errorMessage(e)}`, route);
      }
      const v = route.validate(parsed);
      if (!v.ok) return this.refuse(res, 422, `the body does not match route ${route.name}'s schema`, route, {}, {}, v.issues);
    }
    const up = this.upstreams.get(route.upstream) as Upstream;
    const headers = forwardHeaders(route, req.headers);
    const path = `${norm.path}${url.search}`;
    if (route.durable && up.queue) return this.store(res, up, route, method, path, headers, body, req);
    return this.forwardLive(res, up, route, method, path, headers, body);
  }

  private store(
    res: ServerResponse,
    up: Upstream,
    route: CompiledRoute,
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer,
    req: IncomingMessage,
  ): void {
    const given = req.headers['idempotency-key'];
    const key = typeof given === 'string' && given.length > 0 && given.length <= 200 ? given : randomUUID();
    let stored: StoredRequest | undefined;
    try {
      stored = (up.queue as DurableQueue).push({ key, route: route.name, method, path, headers, body: body.toString('base64'), accepted_at: isoUtc(this.deps.clock.now()) });
    } catch (e) {
      return this.refuse(res, 503, `cannot store the request for ${up.name}: ${errorMessage(e)}`, route, { 'retry-after': '30' });
    }
    if (!stored) {
      up.counters.dropped++;
      return this.refuse(res, 503, `the store-and-forward queue for ${up.name} is full (${this.deps.settings.spool_max_bytes} bytes)`, route, {
        'retry-after': secs(Math.max(up.breaker.retryInMs(this.deps.clock.monoMs()), up.settings.retry_base_ms * 4)),
      });
    }
    res.writeHead(202, { 'content-type': 'application/json', 'idempotency-key': key });
    res.end(JSON.stringify({ queued: true, id: stored.id, idempotency_key: key, upstream: up.name }));
    this.kick(up);
  }

  private async forwardLive(
    res: ServerResponse,
    up: Upstream,
    route: CompiledRoute,
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer,
  ): Promise<void> {
    const now = this.deps.clock.monoMs();
    if (up.breaker.state(now) === 'open')
      return this.refuse(res, 503, `upstream ${up.name} is failing; its circuit breaker is open`, route, { 'retry-after': secs(up.breaker.retryInMs(now)) });
    if (up.inFlight >= up.settings.max_in_flight) {
      if (up.waiting.length >= up.settings.queue)
        return this.refuse(res, 503, `the queue for ${up.name} is full (${up.settings.queue} waiting, ${up.inFlight} in flight)`, route, { 'retry-after': '1' });
      await new Promise<void>((r) => up.waiting.push(r));
    }
    up.inFlight++;
    try {
      if (!up.breaker.allow(this.deps.clock.monoMs()))
        return this.refuse(res, 503, `upstream ${up.name} is failing; its circuit breaker is open`, route, { 'retry-after': secs(up.breaker.retryInMs(this.deps.clock.monoMs())) });
      let sent: Sent;
      try {
        sent = await this.send(up, method, path, headers, body, res);
      } catch (e) {
        up.counters.failures++;
        this.recordOutcome(up, false);
        if (!res.headersSent) return this.refuse(res, 502, `upstream ${up.name} failed: ${errorMessage(e)}`, route);
        res.destroy();
        return;
      }
      up.counters.forwarded++;
      this.recordOutcome(up, sent.status < 500);
    } finally {
      up.inFlight--;
      up.waiting.shift()?.();
    }
  }

  /** One request upstream; with `res`, the answer is streamed back to the client as it comes. */
  private async send(up: Upstream, method: string, path: string, headers: Record<string, string>, body: Buffer, res?: ServerResponse): Promise<Sent> {
    // An injected upstream failure looks like the network's: the connection is refused before any byte is sent.
    await this.deps.chaos?.checkAsync('uplink');
    return this.request(up, method, path, headers, body, res);
  }

  private request(up: Upstream, method: string, path: string, headers: Record<string, string>, body: Buffer, res?: ServerResponse): Promise<Sent> {
    const base = up.url.pathname.replace(/\/$/, '');
    const target = new URL(`${base}${path}`, up.url);
    const make = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const r = make(
        target,
        { method, headers: { ...headers, host: target.host, 'content-length': String(body.length) }, timeout: up.settings.timeout_ms, signal: this.abort.signal },
        (answer) => {
          const status = answer.statusCode ?? 502;
          if (res) {
            res.writeHead(status, responseHeaders(answer.headers));
            answer.pipe(res);
            answer.on('end', () => resolve({ status }));
            answer.on('error', reject);
          } else {
            answer.resume();
            answer.on('end', () => resolve({ status }));
            answer.on('error', reject);
          }
        },
      );
      r.on('timeout', () => r.destroy(new Error(`no answer within ${up.settings.timeout_ms} ms`)));
      r.on('error', reject);
      r.end(body);
    });
  }

  private recordOutcome(up: Upstream, ok: boolean): void {
    const change = up.breaker.record(ok, this.deps.clock.monoMs());
    if (change === 'opened') {
      this.event({
        kind: 'proxy.breaker_open',
        severity: 'warning',
        source: 'proxy',
        reason: `upstream ${up.name} failed ${up.settings.breaker_failures} times in a row: requests to it pause for ${Math.round(up.settings.breaker_open_ms / 1000)} s (durable ones stay spooled)`,
        data: { upstream: up.name, failures: up.settings.breaker_failures, open_ms: up.settings.breaker_open_ms, spooled: up.queue?.depth ?? 0 },
      });
    } else if (change === 'closed') {
      this.event({
        kind: 'proxy.breaker_closed',
        severity: 'notice',
        source: 'proxy',
        reason: `upstream ${up.name} answers again: its circuit breaker is closed`,
        data: { upstream: up.name, spooled: up.queue?.depth ?? 0 },
      });
    }
  }

  // --- store-and-forward ------------------------------------------------------------------------------

  private kick(up: Upstream): void {
    if (up.delivering || this.abort.signal.aborted) return;
    this.deliver(up).catch((e: unknown) => this.deps.log.error({ err: errorMessage(e), upstream: up.name }, 'store-and-forward delivery stopped'));
  }

  /** Delivers the spooled requests head first, one at a time; a failure is retried with backoff and jitter. */
  private async deliver(up: Upstream): Promise<void> {
    const q = up.queue;
    if (!q) return;
    up.delivering = true;
    try {
      while (!this.abort.signal.aborted) {
        const head = q.peek();
        if (!head) break;
        const now = this.deps.clock.monoMs();
        if (!up.breaker.allow(now)) {
          await sleep(Math.max(10, up.breaker.retryInMs(now)), this.abort.signal);
          continue;
        }
        let status: number | undefined;
        try {
          const headers = { ...head.headers, 'idempotency-key': head.key };
          status = (await this.send(up, head.method, head.path, headers, Buffer.from(head.body, 'base64'))).status;
        } catch {
          status = undefined;
        }
        if (this.abort.signal.aborted) break;
        // 2xx/3xx: delivered. 4xx other than 408/425/429: the upstream refuses this request for good.
        const retry = status === undefined || status >= 500 || status === 408 || status === 425 || status === 429;
        this.recordOutcome(up, !retry);
        if (!retry) {
          q.ack(head.id);
          up.attempt = 0;
          if (status !== undefined && status >= 400) {
            up.counters.dropped++;
            this.event({
              kind: 'proxy.rejected',
              severity: 'warning',
              source: 'proxy',
              reason: `upstream ${up.name} refused spooled request ${head.id} (${head.method} ${head.path}) with HTTP ${status}; it is not retried`,
              data: { upstream: up.name, id: head.id, status, idempotency_key: head.key, route: head.route },
            });
          } else {
            up.counters.delivered++;
          }
          if (q.depth === 0 && up.backlogSince !== undefined) {
            const secsDown = Math.round((this.deps.clock.monoMs() - up.backlogSince) / 1000);
            up.backlogSince = undefined;
            this.event({
              kind: 'proxy.drained',
              severity: 'notice',
              source: 'proxy',
              reason: `every spooled request for ${up.name} is delivered, ${secsDown} s after delivery first failed`,
              data: { upstream: up.name, seconds: secsDown, delivered: up.counters.delivered, retries: up.counters.retries },
            });
          }
          continue;
        }
        up.counters.failures++;
        up.counters.retries++;
        up.backlogSince ??= now;
        up.attempt++;
        const ceiling = Math.min(up.settings.retry_max_ms, up.settings.retry_base_ms * 2 ** Math.min(30, up.attempt - 1));
        await sleep(ceiling / 2 + this.random() * (ceiling / 2), this.abort.signal);
      }
    } finally {
      up.delivering = false;
    }
  }

  // --- refusals and observation -----------------------------------------------------------------------

  private clientBucket(client: string, now: number): TokenBucket {
    let b = this.clients.get(client);
    if (!b) {
      if (this.clients.size >= MAX_CLIENTS) {
        const oldest = this.clients.keys().next().value;
        if (oldest !== undefined) this.clients.delete(oldest);
      }
      const s = this.deps.settings;
      b = new TokenBucket({ capacity: Math.max(1, s.client_requests_per_s * s.client_burst_s), refillPerSec: s.client_requests_per_s, nowMs: now });
      this.clients.set(client, b);
    }
    return b;
  }

  /**
   * A clear refusal: status, JSON body with the reason, headers such as Retry-After, and a `proxy.refused`
   * event — at most one a second per route and status, carrying how many were refused since the last.
   */
  private refuse(
    res: ServerResponse,
    status: number,
    message: string,
    route: CompiledRoute | undefined,
    headers: Record<string, string> = {},
    data: Record<string, unknown> = {},
    details?: unknown,
  ): void {
    this.refusedCount[String(status)] = (this.refusedCount[String(status)] ?? 0) + 1;
    if (!res.headersSent) {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ error: { code: 'WAVEOS_E_PROXY_REFUSED', status, reason: HTTP_REASON[status] ?? 'refused', message, ...(details ? { details } : {}) } }));
    }
    const key = `${route?.name ?? '-'}:${status}`;
    const now = this.deps.clock.monoMs();
    const last = this.lastRefusalEvent.get(key);
    if (last && now - last.at < 1_000) {
      last.since++;
      return;
    }
    this.lastRefusalEvent.set(key, { at: now, since: 0 });
    this.event({
      kind: 'proxy.refused',
      severity: status >= 500 || status === 429 ? 'warning' : 'notice',
      source: 'proxy',
      reason: `refused with HTTP ${status}: ${message}`,
      data: { status, route: route?.name ?? null, similar_since_last_event: last?.since ?? 0, ...data, ...(details ? { details } : {}) },
    });
  }

  private event(e: ProxyEvent): void {
    try {
      this.deps.events?.append(e);
    } catch (err) {
      this.deps.log.warn({ err: errorMessage(err) }, 'could not record a proxy event');
    }
  }

  /** Queue depth, in flight, retries, dropped and breaker state per upstream, for the metrics registry. */
  stats(): ProxyStats {
    const now = this.deps.clock.monoMs();
    const upstreams: Record<string, UpstreamStats> = {};
    for (const up of this.upstreams.values()) {
      upstreams[up.name] = {
        queue_depth: up.waiting.length,
        in_flight: up.inFlight,
        spooled: up.queue?.depth ?? 0,
        spooled_bytes: up.queue?.bytes ?? 0,
        ...up.counters,
        breaker: up.breaker.state(now),
      };
    }
    return { upstreams, refused: { ...this.refusedCount }, clients: this.clients.size };
  }
}

function secs(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/** The body, or undefined when it grows past `max` (the connection is then closed). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > max) {
        over = true;
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

export function createProxy(deps: ProxyDeps): UplinkProxy {
  return new UplinkProxy(deps);
}
