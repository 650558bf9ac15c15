import { chmodSync, chownSync, readFileSync, unlinkSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type ErrorCode, INPUT_LIMITS, type Lifecycle, type Logger, WaveosError, errorMessage, httpStatusOf, isWaveosError } from '../core/index.js';
import type { ApiResult, Authorizer, Route } from './types.js';

const MAX_BODY_BYTES = INPUT_LIMITS.apiBody;

export interface ApiServerDeps {
  socketPath: string;
  /** A group allowed to use the socket: it becomes 0660 and owned by that group. */
  socketGroup?: string;
  routes: readonly Route[];
  authorize: Authorizer;
  log: Logger;
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
}

/**
 * The request pipeline without a socket: route, authorize, parse, handle. Tests call it directly
 * (like fastify's inject); the server below feeds it real requests.
 */
export async function dispatch(
  deps: Pick<ApiServerDeps, 'routes' | 'authorize' | 'log'>,
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
  const decision = deps.authorize({ token, action: route.action, need: route.role, target });
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
    result = await route.handle({ query, body, principal: decision.principal, signal: req.signal ?? new AbortController().signal });
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

function groupId(name: string): number {
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [g, , gid] = line.split(':');
    if (g === name && gid !== undefined) return Number(gid);
  }
  throw new WaveosError('WAVEOS_E_CONFIG_INVALID', `api.socket_group: no group named "${name}" in /etc/group`);
}

/** HTTP over the control socket (CONTRACT.md `run/waveos/waveos.sock`), 0600 until group access is configured. */
export class ApiServer implements Lifecycle {
  readonly name = 'api';
  private server: Server | undefined;
  private readonly open = new Set<ServerResponse>();

  constructor(private readonly deps: ApiServerDeps) {}

  async start(): Promise<void> {
    const { socketPath } = this.deps;
    try {
      // A socket file left by a killed daemon would make listen fail; the pid file already proved we are alone.
      unlinkSync(socketPath);
    } catch {
      // none was left
    }
    const server = createServer((req, res) => void this.onRequest(req, res));
    server.maxHeadersCount = 50;
    server.headersTimeout = 5_000;
    server.requestTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    if (this.deps.socketGroup) {
      chownSync(socketPath, -1, groupId(this.deps.socketGroup));
      chmodSync(socketPath, 0o660);
    } else {
      chmodSync(socketPath, 0o600);
    }
    this.server = server;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
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
    });
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

  private send(res: ServerResponse, r: ApiResponse): void {
    res.writeHead(r.status, r.headers);
    res.end(r.body);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const res of this.open) res.end();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.deps.socketPath);
    } catch {
      // already gone
    }
  }
}
