import { chmodSync, chownSync, readFileSync, unlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type ErrorCode, INPUT_LIMITS, type Lifecycle, type Logger, WaveosError, errorMessage, httpStatusOf, isWaveosError } from '../core/index.js';
import type { AuthThrottle } from '../security/index.js';
import { FAILURES_PER_CONNECTION, THROTTLE_SUMMARY_MS } from '../security/index.js';
import type { ApiResult, ApiSocketKind, Authorizer, Route } from './types.js';

const MAX_BODY_BYTES = INPUT_LIMITS.apiBody;

/** A group socket: whoever its mode lets connect gets the socket's role without a token. */
export interface GroupSocket {
  kind: Exclude<ApiSocketKind, 'token'>;
  path: string;
  /** The group whose members may connect (0660); absent from /etc/group, the socket is 0600. */
  group: string;
}

export interface ApiServerDeps {
  /** The token socket (CONTRACT.md `run/waveos/waveos.sock`). */
  socketPath: string;
  /** A group alone allowed to use the token socket: it becomes 0660 and owned by that group. */
  socketGroup?: string;
  /** The token socket's mode when no group is set: 0600 (dev: the developer's own) or 0666 (prod). */
  socketMode?: number;
  groupSockets?: readonly GroupSocket[];
  /** Failed-authentication throttling per socket; none in unit tests. */
  throttle?: AuthThrottle;
  routes: readonly Route[];
  authorize: Authorizer;
  log: Logger;
  /**
   * Runs a request's handler inside a span (the tracing module's, wired in compose/api.ts): kept out of this
   * file's imports so the CLI, which loads the API client from here, does not load OpenTelemetry.
   */
  traced?: <T>(name: string, attributes: Record<string, string>, fn: () => Promise<T>) => Promise<T>;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function json(status: number, body: unknown): ApiResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/**
 * An error answer: `status` is the code's own (core's table) unless the edge tells cases apart that one code
 * covers (401 vs 403 for WAVEOS_E_PERMISSION).
 */
function errorBody(code: ErrorCode, message: string, details?: unknown, status = httpStatusOf(code)): ApiResponse {
  return json(status, { error: { code, message, ...(details === undefined ? {} : { details }) } });
}

export interface InjectRequest {
  method: string;
  url: string;
  headers?: Record<string, string | undefined>;
  body?: string;
  signal?: AbortSignal;
  /** The socket it came in on; default `token`. */
  via?: ApiSocketKind;
}

/**
 * The request pipeline without a socket: route, authorize, parse, handle. Tests call it directly
 * (like fastify's inject); the server below feeds it real requests.
 */
export async function dispatch(
  deps: Pick<ApiServerDeps, 'routes' | 'authorize' | 'log' | 'traced'>,
  req: InjectRequest,
): Promise<ApiResponse | { stream: AsyncIterable<string | Uint8Array>; contentType?: string; headers?: Record<string, string> }> {
  let url: URL;
  try {
    url = new URL(req.url, 'http://waveos');
  } catch {
    return errorBody('WAVEOS_E_BAD_REQUEST', 'malformed request URL');
  }
  // A route path ending in `/:name` matches one more path segment, handed to the query schema as `name`.
  const param = (r: Route): string | undefined => {
    if (!r.path.endsWith('/:name')) return undefined;
    const base = r.path.slice(0, -':name'.length);
    const rest = url.pathname.startsWith(base) ? url.pathname.slice(base.length) : '';
    if (!rest || rest.includes('/')) return undefined;
    try {
      return decodeURIComponent(rest);
    } catch {
      return undefined;
    }
  };
  const candidates = deps.routes.filter((r) => r.path === url.pathname || param(r) !== undefined);
  if (candidates.length === 0) return errorBody('WAVEOS_E_NOT_FOUND', `no such endpoint: ${url.pathname}`);
  const route = candidates.find((r) => r.method === req.method);
  if (!route)
    return errorBody('WAVEOS_E_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname} (allowed: ${candidates.map((r) => r.method).join(', ')})`);

  const rawQuery: Record<string, string> = Object.fromEntries(url.searchParams.entries());
  const name = param(route);
  if (name !== undefined) rawQuery.name = name;
  let rawBody: unknown;
  if (route.body && req.body) {
    try {
      rawBody = JSON.parse(req.body);
    } catch {
      rawBody = undefined;
    }
  }
  let target: string | undefined;
  try {
    const t = route.target?.({ query: rawQuery, body: rawBody });
    target = typeof t === 'string' ? t.slice(0, 200) : undefined;
  } catch {
    target = undefined;
  }
  const auth = req.headers?.authorization;
  const token = auth === undefined ? undefined : auth.startsWith('Bearer ') ? auth.slice(7).trim() : auth;
  const decision = deps.authorize({ token, via: req.via ?? 'token', action: route.action, need: route.role, target });
  if (decision.diskFull) return errorBody('WAVEOS_E_DISK_FULL', decision.reason ?? 'the disk is full');
  if (!decision.allowed || !decision.principal) {
    return errorBody('WAVEOS_E_PERMISSION', decision.reason ?? 'permission denied', undefined, decision.principal ? 403 : 401);
  }

  let query: unknown = rawQuery;
  if (route.query) {
    const r = route.query.safeParse(rawQuery);
    if (!r.success)
      return errorBody(
        'WAVEOS_E_BAD_REQUEST',
        'invalid query parameters',
        r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      );
    query = r.data;
  }
  let body: unknown;
  if (route.body) {
    if (req.body && rawBody === undefined) return errorBody('WAVEOS_E_BAD_REQUEST', 'the request body is not valid JSON');
    const r = route.body.safeParse(req.body ? rawBody : {});
    if (!r.success)
      return errorBody(
        'WAVEOS_E_BAD_REQUEST',
        'invalid request body',
        r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      );
    body = r.data;
  }
  let result: ApiResult;
  try {
    const principal = decision.principal;
    // One span per operator request (docs/observability.md): the actions it asks for are its children.
    const handle = (): Promise<ApiResult> => Promise.resolve(route.handle({ query, body, principal, signal: req.signal ?? new AbortController().signal }));
    const attributes = { 'http.request.method': route.method, 'http.route': route.path, 'waveos.api.action': route.action, 'waveos.principal': principal.name, 'waveos.via': req.via ?? 'token' };
    result = deps.traced ? await deps.traced(`api ${route.method} ${route.path}`, attributes, handle) : await handle();
  } catch (e) {
    if (isWaveosError(e)) return errorBody(e.code, e.message, e.problems.length ? e.problems : undefined);
    deps.log.error({ err: errorMessage(e), action: route.action }, 'API handler failed');
    return errorBody('WAVEOS_E_RUNTIME', `internal error: ${errorMessage(e)}`);
  }
  if (result.kind === 'stream') return { stream: result.lines };
  if (result.kind === 'bytes') return { stream: result.chunks, contentType: result.contentType, headers: result.headers };
  return json(result.status ?? 200, result.body);
}

/** A body over the limit: known from Content-Length before a byte is read, or found while reading. */
class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) {
        chunks.push(c);
        return;
      }
      // Stop buffering at once: the answer goes out now and the connection closes after it (refuseBody).
      req.off('data', onData);
      chunks.length = 0;
      reject(new BodyTooLarge());
    };
    req.on('data', onData);
    req.on('end', () => resolve(chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined));
    req.on('error', reject);
  });
}

/**
 * Answers 413 with the error body and closes. The answer is written on the socket itself and only the sending
 * side is shut: node's own close after a response would cut the connection while the client is still sending,
 * and a client whose write fails (EPIPE) drops the answer it has not read yet. So what still arrives is parsed
 * and dropped, never buffered, for a short grace; then the connection is cut, so an endless body cannot hold it.
 */
function refuseBody(req: IncomingMessage): void {
  const r = errorBody('WAVEOS_E_BODY_TOO_LARGE', `request body over the limit of ${MAX_BODY_BYTES} bytes`);
  const socket = req.socket;
  req.on('data', () => undefined);
  req.resume();
  const head = [`HTTP/1.1 ${r.status} Payload Too Large`, 'content-type: application/json', `content-length: ${Buffer.byteLength(r.body)}`, 'connection: close'];
  socket.end(`${head.join('\r\n')}\r\n\r\n${r.body}`);
  setTimeout(() => socket.destroy(), 1_000).unref();
}

function groupIdOf(name: string): number | undefined {
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [g, , gid] = line.split(':');
    if (g === name && gid !== undefined) return Number(gid);
  }
  return undefined;
}

function groupId(name: string): number {
  const gid = groupIdOf(name);
  if (gid === undefined) throw new WaveosError('WAVEOS_E_CONFIG_INVALID', `api.socket_group: no group named "${name}" in /etc/group`);
  return gid;
}

/**
 * HTTP over the control sockets: the token socket (CONTRACT.md `run/waveos/waveos.sock`) and the group
 * sockets, whose file modes decide who connects (docs/security.md, "Local access").
 */
export class ApiServer implements Lifecycle {
  readonly name = 'api';
  private readonly servers: { server: Server; path: string }[] = [];
  private readonly open = new Set<ServerResponse>();
  /** Failed authentications per connection: a connection that keeps guessing is closed. */
  private readonly failures = new WeakMap<Socket, number>();
  private summaryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: ApiServerDeps) {}

  async start(): Promise<void> {
    const { socketPath } = this.deps;
    await this.listen(socketPath, 'token');
    if (this.deps.socketGroup) {
      chownSync(socketPath, -1, groupId(this.deps.socketGroup));
      chmodSync(socketPath, 0o660);
    } else {
      chmodSync(socketPath, this.deps.socketMode ?? 0o600);
    }
    for (const g of this.deps.groupSockets ?? []) {
      await this.listen(g.path, g.kind);
      this.restrictTo(g);
    }
    if (this.deps.throttle) {
      const throttle = this.deps.throttle;
      this.summaryTimer = setInterval(() => throttle.summarise(), THROTTLE_SUMMARY_MS);
      this.summaryTimer.unref();
    }
  }

  private async listen(path: string, via: ApiSocketKind): Promise<void> {
    try {
      // A socket file left by a killed daemon would make listen fail; the pid file already proved we are alone.
      unlinkSync(path);
    } catch {
      // none was left
    }
    const server = createServer((req, res) => void this.onRequest(req, res, via));
    server.maxHeadersCount = 50;
    server.headersTimeout = 5_000;
    server.requestTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Owner-only until the group is set: a group socket must never be open wider than its group.
    chmodSync(path, 0o600);
    this.servers.push({ server, path });
  }

  /** 0660 and the group's, or 0600 (root and the daemon's own user only) when the group cannot be used. */
  private restrictTo(g: GroupSocket): void {
    const gid = groupIdOf(g.group);
    if (gid === undefined) {
      this.deps.log.info({ socket: g.path, group: g.group }, `no group "${g.group}": ${g.kind} socket is for root and the daemon's user only`);
      return;
    }
    try {
      chownSync(g.path, -1, gid);
      chmodSync(g.path, 0o660);
    } catch (e) {
      this.deps.log.warn({ socket: g.path, group: g.group, err: errorMessage(e) }, `cannot give the ${g.kind} socket to group "${g.group}": it stays 0600`);
    }
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse, via: ApiSocketKind): Promise<void> {
    const throttle = this.deps.throttle;
    if (throttle && !throttle.admit(via)) {
      res.shouldKeepAlive = false;
      this.send(res, errorBody('WAVEOS_E_THROTTLED', `too many failed authentications on the ${via} socket: try again in a few seconds`));
      return;
    }
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    let body: string | undefined;
    try {
      body = await readBody(req);
    } catch (e) {
      if (e instanceof BodyTooLarge) refuseBody(req);
      else req.socket.destroy();
      return;
    }
    const out = await dispatch(this.deps, {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers as Record<string, string>,
      body,
      signal: abort.signal,
      via,
    });
    if (!('stream' in out) && out.status === 401) this.authFailed(req.socket, res, via);
    if ('stream' in out) {
      this.open.add(res);
      res.writeHead(200, { 'content-type': out.contentType ?? 'application/x-ndjson', ...out.headers });
      try {
        for await (const line of out.stream) {
          if (abort.signal.aborted) break;
          // A slow reader pauses the source instead of growing the response buffer.
          if (!res.write(line)) await new Promise<void>((resolve) => {
            res.once('drain', resolve);
            res.once('close', resolve);
          });
        }
      } catch (e) {
        this.deps.log.warn({ err: errorMessage(e) }, 'API stream ended with an error');
      } finally {
        this.open.delete(res);
        res.end();
      }
      return;
    }
    this.send(res, out);
  }

  /** Counts a failed authentication against the socket's throttle and the connection; a guessing connection is closed. */
  private authFailed(socket: Socket, res: ServerResponse, via: ApiSocketKind): void {
    this.deps.throttle?.failed(via);
    const n = (this.failures.get(socket) ?? 0) + 1;
    this.failures.set(socket, n);
    if (n >= FAILURES_PER_CONNECTION) res.shouldKeepAlive = false;
  }

  private send(res: ServerResponse, r: ApiResponse): void {
    res.writeHead(r.status, r.headers);
    res.end(r.body);
  }

  async stop(): Promise<void> {
    if (this.summaryTimer) clearInterval(this.summaryTimer);
    this.summaryTimer = undefined;
    this.deps.throttle?.summarise();
    const servers = this.servers.splice(0);
    for (const res of this.open) res.end();
    for (const { server, path } of servers) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  }
}
