import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { type IncomingHttpHeaders, type Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock, silentLogger } from '../core/index.js';
import {
  DurableQueue,
  type ProxyEvent,
  type ProxySettings,
  type RouteSettings,
  UplinkProxy,
  type UpstreamSettings,
  routeSettings,
  upstreamSettings,
} from './index.js';
import { normalisePath } from './rules.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real upstream on 127.0.0.1 that records what it gets; `hold` keeps answers back until released. */
class Upstream {
  server: Server | undefined;
  seen: Seen[] = [];
  held: (() => void)[] = [];
  hold = false;
  status = 200;

  async start(port = 0): Promise<number> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
        const answer = (): void => {
          res.writeHead(this.status, { 'content-type': 'application/json', 'x-upstream': 'yes' });
          res.end(JSON.stringify({ ok: true, n: this.seen.length }));
        };
        if (this.hold) this.held.push(answer);
        else answer();
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  release(): void {
    this.hold = false;
    for (const a of this.held.splice(0)) a();
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** With `chunked`, the body goes in two writes without a length, so the proxy learns its size only by reading. */
function call(port: number, method: string, path: string, body?: string, headers: Record<string, string> = {}, chunked = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (chunked && body !== undefined) {
      req.write(body.slice(0, 5));
      setTimeout(() => req.end(body.slice(5)), 20);
    } else {
      req.end(body);
    }
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function until(what: string, fn: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (fn()) resolve();
      else if (Date.now() > end) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

let dir: string;
let events: ProxyEvent[];
const cleanups: (() => Promise<void>)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'proxy-'));
  events = [];
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

async function startProxy(up: UpstreamSettings, routes: RouteSettings[], over: Partial<ProxySettings> = {}): Promise<{ proxy: UplinkProxy; port: number }> {
  const proxy = new UplinkProxy({
    clock: systemClock,
    log: silentLogger(),
    dir,
    socketPath: join(dir, 'proxy.sock'),
    settings: {
      enabled: true,
      listen: '127.0.0.1:0',
      max_body_bytes: 1024,
      client_requests_per_s: 1_000,
      client_burst_s: 1,
      spool_max_bytes: 1024 * 1024,
      upstreams: { cloud: up },
      routes,
      ...over,
    },
    events: { append: (e) => events.push(e) },
    random: () => 0.5,
  });
  await proxy.start();
  cleanups.push(() => proxy.stop());
  return { proxy, port: Number(proxy.where().split(':').at(-1)) };
}

async function startUpstream(port = 0): Promise<{ up: Upstream; port: number }> {
  const up = new Upstream();
  const p = await up.start(port);
  cleanups.push(() => up.stop());
  return { up, port: p };
}

const fast = { retry_base_ms: 20, retry_max_ms: 200, breaker_failures: 3, breaker_open_ms: 300, timeout_ms: 2_000 };

describe('the uplink proxy', () => {
  it('forwards allowed requests with headers stripped and set, and refuses the rest with the right status and an event', async () => {
    const { up, port: upPort } = await startUpstream();
    const schema = { type: 'object', required: ['temp'], properties: { temp: { type: 'number', minimum: -50, maximum: 150 } } };
    const { port } = await startProxy(upstreamSettings(`http://127.0.0.1:${upPort}/base`, fast), [
      routeSettings('telemetry', 'cloud', '/v1/telemetry', { methods: ['POST', 'PUT'], max_body_bytes: 1024, json_schema: schema, strip_headers: ['cookie'], set_headers: { 'x-device': 'board-7' } }),
      routeSettings('raw', 'cloud', '/v1/raw', { methods: ['POST'], max_body_bytes: 10 }),
    ]);
    const ok = await call(port, 'POST', '/v1/telemetry/a?x=1', '{"temp": 21.5}', { cookie: 'secret=1', connection: 'keep-alive, x-hop', 'x-hop': 'h', 'x-app': 'kept' });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-upstream']).toBe('yes');
    expect(up.seen[0]?.url).toBe('/base/v1/telemetry/a?x=1');
    expect(up.seen[0]?.headers.cookie).toBeUndefined();
    expect(up.seen[0]?.headers['x-hop']).toBeUndefined();
    expect(up.seen[0]?.headers['x-device']).toBe('board-7');
    expect(up.seen[0]?.headers['x-app']).toBe('kept');
    expect(up.seen[0]?.body).toBe('{"temp": 21.5}');

    const refusals: [Promise<Reply>, number][] = [
      [call(port, 'POST', '/v1/other', '{}'), 404],
      [call(port, 'DELETE', '/v1/telemetry', '{}'), 405],
      [call(port, 'POST', '/v1/telemetry', `{"temp": 1, "pad": "${'x'.repeat(2000)}"}`), 413],
      [call(port, 'POST', '/v1/raw', 'x'.repeat(11), { 'content-type': 'text/plain' }, true), 413],
      [call(port, 'POST', '/v1/telemetry', 'temp=1', { 'content-type': 'text/plain' }), 415],
      [call(port, 'POST', '/v1/telemetry', '{"temp": '), 400],
      [call(port, 'POST', '/v1/telemetry', '{"temp": 900}'), 422],
    ];
    for (const [p, status] of refusals) {
      const r = await p;
      expect(r.status).toBe(status);
      expect(JSON.parse(r.body).error.code).toBe('WAVEOS_E_PROXY_REFUSED');
    }
    const r405 = await call(port, 'DELETE', '/v1/telemetry', '{}');
    expect(r405.headers.allow).toBe('POST, PUT');
    const r422 = JSON.parse((await call(port, 'POST', '/v1/telemetry', '{"temp": "hot"}')).body);
    expect(r422.error.details[0].path).toBe('temp');
    expect(up.seen).toHaveLength(1);
    const kinds = events.filter((e) => e.kind === 'proxy.refused').map((e) => e.data?.status);
    expect(new Set(kinds)).toEqual(new Set([404, 405, 413, 415, 400, 422]));
  });

  it('limits each client with a token bucket: 429 with Retry-After', async () => {
    const { port: upPort } = await startUpstream();
    const { port } = await startProxy(upstreamSettings(`http://127.0.0.1:${upPort}`, fast), [routeSettings('t', 'cloud', '/t')], {
      client_requests_per_s: 1,
      client_burst_s: 3,
    });
    const a = [];
    for (let i = 0; i < 5; i++) a.push((await call(port, 'POST', '/t', '{}', { 'x-waveos-client': 'app-a' })).status);
    expect(a).toEqual([200, 200, 200, 429, 429]);
    const limited = await call(port, 'POST', '/t', '{}', { 'x-waveos-client': 'app-a' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // A fresh X-Waveos-Client header is not a fresh bucket: the limit is the peer's, which the header cannot change.
    const fresh = [];
    for (let i = 0; i < 5; i++) fresh.push((await call(port, 'POST', '/t', '{}', { 'x-waveos-client': `app-${i}-${Math.random()}` })).status);
    expect(fresh).toEqual([429, 429, 429, 429, 429]);
  });

  it('property: encoded separators and dot segments never match another route than the normalised path, and the upstream only sees normalised paths', async () => {
    const { up, port: upPort } = await startUpstream();
    const { port } = await startProxy(upstreamSettings(`http://127.0.0.1:${upPort}`, fast), [
      routeSettings('live', 'cloud', '/v1/live', { methods: ['GET'] }),
      routeSettings('admin', 'cloud', '/v1/admin', { methods: ['GET'] }),
    ]);
    expect((await call(port, 'GET', '/v1/live/..%2F..%2Fadmin')).status).toBe(400);
    expect((await call(port, 'GET', '/v1/live/%2e%2e/%2e%2e/admin')).status).toBe(400);
    expect((await call(port, 'GET', '/v1/live/%252F')).status).toBe(400);
    const seg = fc.constantFrom('v1', 'live', 'admin', '..', '.', '%2F', '%2f', '%5C', '%2E%2E', '%252F', 'x', '%41');
    await fc.assert(
      fc.asyncProperty(fc.array(seg, { minLength: 1, maxLength: 6 }), async (segs) => {
        const raw = `/${segs.join('/')}`;
        const before = up.seen.length;
        const r = await call(port, 'GET', raw);
        const norm = normalisePath(raw);
        if (!norm.ok) {
          expect(r.status).toBe(400);
          expect(up.seen.length).toBe(before);
          return;
        }
        const expected = norm.path === '/v1/live' || norm.path.startsWith('/v1/live/') ? 'live' : norm.path === '/v1/admin' || norm.path.startsWith('/v1/admin/') ? 'admin' : undefined;
        if (expected === undefined) {
          expect(r.status).toBe(404);
          return;
        }
        expect(r.status).toBe(200);
        const seen = up.seen.at(-1)?.url ?? '';
        expect(seen).toBe(norm.path);
        expect(seen).not.toMatch(/%2f|%5c|%2e|(^|\/)\.\.?(\/|$)/i);
      }),
      { numRuns: 150 },
    );
  });

  it('bounds the queue per upstream: when it is full, 503 with Retry-After; the queued ones go through later', async () => {
    const { up, port: upPort } = await startUpstream();
    up.hold = true;
    const { proxy, port } = await startProxy(upstreamSettings(`http://127.0.0.1:${upPort}`, { ...fast, max_in_flight: 1, queue: 2 }), [routeSettings('t', 'cloud', '/t')]);
    const first = [call(port, 'POST', '/t', '{"i":1}'), call(port, 'POST', '/t', '{"i":2}'), call(port, 'POST', '/t', '{"i":3}')];
    await until('one in flight and two queued', () => proxy.stats().upstreams.cloud?.in_flight === 1 && proxy.stats().upstreams.cloud?.queue_depth === 2);
    const over = await call(port, 'POST', '/t', '{"i":4}');
    expect(over.status).toBe(503);
    expect(over.headers['retry-after']).toBe('1');
    expect(JSON.parse(over.body).error.message).toMatch(/queue for cloud is full \(2 waiting, 1 in flight\)/);
    up.release();
    const statuses = (await Promise.all(first)).map((r) => r.status);
    expect(statuses).toEqual([200, 200, 200]);
    expect(proxy.stats().upstreams.cloud).toMatchObject({ queue_depth: 0, in_flight: 0, forwarded: 3 });
    expect(events.some((e) => e.kind === 'proxy.refused' && e.data?.status === 503)).toBe(true);
  });

  it('opens the breaker on a failing upstream: 502s, then 503 with Retry-After and an event', async () => {
    const dead = await freePort();
    const { proxy, port } = await startProxy(upstreamSettings(`http://127.0.0.1:${dead}`, { ...fast, breaker_open_ms: 60_000 }), [routeSettings('t', 'cloud', '/t')]);
    const s: number[] = [];
    for (let i = 0; i < 4; i++) s.push((await call(port, 'POST', '/t', '{}')).status);
    expect(s).toEqual([502, 502, 502, 503]);
    const r = await call(port, 'POST', '/t', '{}');
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(50);
    expect(proxy.stats().upstreams.cloud?.breaker).toBe('open');
    expect(events.some((e) => e.kind === 'proxy.breaker_open')).toBe(true);
  });

  it('stores durable requests while the upstream is down and delivers all of them in order once it is back, at least once with idempotency keys', async () => {
    const upPort = await freePort();
    const route = routeSettings('events', 'cloud', '/v1/events', { durable: true });
    const first = await startProxy(upstreamSettings(`http://127.0.0.1:${upPort}`, fast), [route]);
    const keys: string[] = [];
    for (let i = 1; i <= 15; i++) {
      const r = await call(first.port, 'POST', '/v1/events', JSON.stringify({ seq: i }), i === 3 ? { 'idempotency-key': 'client-chosen-3' } : {});
      expect(r.status).toBe(202);
      keys.push(JSON.parse(r.body).idempotency_key as string);
    }
    expect(keys[2]).toBe('client-chosen-3');
    expect(first.proxy.stats().upstreams.cloud?.spooled).toBe(15);
    await until('retries under way', () => (first.proxy.stats().upstreams.cloud?.retries ?? 0) >= 3);
    expect(events.some((e) => e.kind === 'proxy.breaker_open')).toBe(true);
    // the daemon restarts meanwhile: what was accepted is on disk
    await first.proxy.stop();
    cleanups.splice(0);
    const second = await startProxy(upstreamSettings(`http://127.0.0.1:${upPort}`, fast), [route]);
    for (let i = 16; i <= 20; i++) {
      const r = await call(second.port, 'POST', '/v1/events', JSON.stringify({ seq: i }));
      expect(r.status).toBe(202);
      keys.push(JSON.parse(r.body).idempotency_key as string);
    }
    const { up } = await startUpstream(upPort);
    await until('all delivered', () => second.proxy.stats().upstreams.cloud?.spooled === 0, 20_000);
    const got = up.seen.map((s) => ({ seq: (JSON.parse(s.body) as { seq: number }).seq, key: s.headers['idempotency-key'] as string }));
    // in order; any repeat is the same request again (same key), never a different one
    const firstSeen = got.filter((g, i) => got.findIndex((h) => h.key === g.key) === i);
    expect(firstSeen.map((g) => g.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(firstSeen.map((g) => g.key)).toEqual(keys);
    for (const g of got) expect(keys[g.seq - 1]).toBe(g.key);
    expect(second.proxy.stats().upstreams.cloud).toMatchObject({ delivered: 20, spooled: 0, spooled_bytes: 0, breaker: 'closed' });
    expect(statSync(join(dir, 'cloud/queue.jsonl')).size).toBe(0);
    expect(events.some((e) => e.kind === 'proxy.drained')).toBe(true);
  });

  it('refuses durable requests with 503 and Retry-After when the on-disk queue is at its bound', async () => {
    const upPort = await freePort();
    const { port, proxy } = await startProxy(upstreamSettings(`http://127.0.0.1:${upPort}`, fast), [routeSettings('e', 'cloud', '/e', { durable: true })], {
      spool_max_bytes: 2_000,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await call(port, 'POST', '/e', JSON.stringify({ i, pad: 'p'.repeat(100) }))).status);
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThan(3);
    expect(statuses.at(-1)).toBe(503);
    const r = await call(port, 'POST', '/e', JSON.stringify({ i: 99, pad: 'p'.repeat(100) }));
    expect(r.status).toBe(503);
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(proxy.stats().upstreams.cloud?.dropped).toBeGreaterThan(0);
  });
});

describe('DurableQueue', () => {
  it('survives a torn append and keeps its delivered mark across reopening', () => {
    const q = new DurableQueue(join(dir, 'u'), 1024 * 1024);
    const base = { key: 'k', route: 'r', method: 'POST', path: '/p', headers: {}, accepted_at: 't' };
    for (let i = 0; i < 3; i++) q.push({ ...base, body: Buffer.from(String(i)).toString('base64') });
    q.ack(1);
    q.close();
    appendFileSync(join(dir, 'u/queue.jsonl'), '{"id":4,"key":"torn');
    const again = new DurableQueue(join(dir, 'u'), 1024 * 1024);
    expect(again.depth).toBe(2);
    expect(again.peek()?.id).toBe(2);
    expect(readFileSync(join(dir, 'u/queue.jsonl'), 'utf8').endsWith('\n')).toBe(true);
    expect(again.push({ ...base, body: '' })?.id).toBe(4);
    again.close();
  });
});
