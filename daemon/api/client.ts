import { createWriteStream } from 'node:fs';
import { type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, request } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { WaveosError } from '../core/errors.js';

export interface ClientOptions {
  socketPath: string;
  token?: string;
  timeoutMs?: number;
}

export interface ClientResponse {
  status: number;
  body: unknown;
}

/** One request as the caller wants it sent, down to a body that is not JSON and headers of its own. */
export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

/** An answer with everything it carried: status, headers, the body as text and, when it is JSON, parsed. */
export interface RawResponse extends ClientResponse {
  headers: IncomingHttpHeaders;
  text: string;
}

function unreachable(socketPath: string, why: string): WaveosError {
  return new WaveosError(
    'WAVEOS_E_DAEMON_UNREACHABLE',
    `the daemon is not reachable at ${socketPath}: ${why} (is \`waveos run\` running with the same --root?)`,
  );
}

function authHeaders(opts: ClientOptions): Record<string, string> {
  return opts.token ? { authorization: `Bearer ${opts.token}` } : {};
}

/** The body as text, and parsed when it is JSON (an empty body is null). */
function readAll(res: IncomingMessage): Promise<{ text: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        // not JSON: hand back the text
      }
      resolve({ text, body });
    });
  });
}

/**
 * Opens one request over the socket and hands the response to `onResponse`; a connection failure or a time-out
 * (`timed out`) goes to `onError` as node reports it. A request node will not even send (a bad character in
 * the path, `ERR_…`) throws here, so that it stays the caller's fault rather than the socket's.
 */
function open(
  socketPath: string,
  r: { method: string; path: string; headers: OutgoingHttpHeaders; body?: string; timeoutMs?: number },
  onResponse: (res: IncomingMessage) => void,
  onError: (e: NodeJS.ErrnoException) => void,
): ClientRequest {
  const req = request({ socketPath, method: r.method, path: r.path, headers: r.headers, ...(r.timeoutMs === undefined ? {} : { timeout: r.timeoutMs }) }, onResponse);
  req.on('timeout', () => req.destroy(new Error('timed out')));
  req.on('error', onError);
  req.end(r.body);
  return req;
}

/**
 * One request over a control socket exactly as given, failures as node reports them (ECONNREFUSED,
 * ECONNRESET, `timed out`): for a caller that judges the socket itself, such as a fuzzer or a readiness probe.
 */
export function rawRequest(socketPath: string, r: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers = { ...r.headers, ...(r.body !== undefined ? { 'content-length': String(Buffer.byteLength(r.body)) } : {}) };
    open(
      socketPath,
      { ...r, headers, timeoutMs: r.timeoutMs ?? 10_000 },
      (res) => readAll(res).then((b) => resolve({ status: res.statusCode ?? 0, headers: res.headers, ...b }), reject),
      reject,
    );
  });
}

/** One JSON request over the control socket; connection failures become exit code 3. */
export function apiCall(opts: ClientOptions, method: string, path: string, body?: unknown): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const fail = (e: NodeJS.ErrnoException): void => reject(unreachable(opts.socketPath, e.code ?? e.message));
    open(
      opts.socketPath,
      {
        method,
        path,
        headers: { ...authHeaders(opts), ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
        ...(payload === undefined ? {} : { body: payload }),
        timeoutMs: opts.timeoutMs ?? 10_000,
      },
      (res) => readAll(res).then((b) => resolve({ status: res.statusCode ?? 0, body: b.body }), fail),
      fail,
    );
  });
}

/** A streaming GET: calls onLine for each NDJSON line until the server ends or the signal aborts. */
export function apiStream(opts: ClientOptions, path: string, onLine: (line: string) => void, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = open(
      opts.socketPath,
      // A stream may be quiet for long (no event for minutes): no idle time-out, not even the agent's default 5 s.
      { method: 'GET', path, headers: authHeaders(opts), timeoutMs: 0 },
      (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          readAll(res).then(() => resolve(res.statusCode ?? 0), reject);
          return;
        }
        let rest = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          rest += c;
          let i = rest.indexOf('\n');
          while (i >= 0) {
            onLine(rest.slice(0, i));
            rest = rest.slice(i + 1);
            i = rest.indexOf('\n');
          }
        });
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
      (e) => (signal?.aborted ? resolve(0) : reject(unreachable(opts.socketPath, e.code ?? e.message))),
    );
    signal?.addEventListener('abort', () => {
      req.destroy();
      resolve(0);
    });
  });
}

/**
 * A GET whose body goes to a file (a download), streamed; a non-2xx answer is returned with its parsed
 * body and nothing is written.
 */
export function apiDownload(opts: ClientOptions, path: string, destFile: string): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    open(
      opts.socketPath,
      { method: 'GET', path, headers: authHeaders(opts), timeoutMs: opts.timeoutMs ?? 60_000 },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          readAll(res).then((b) => resolve({ status, body: b.body }), reject);
          return;
        }
        pipeline(res, createWriteStream(destFile)).then(
          () => resolve({ status, body: null }),
          (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))),
        );
      },
      (e) => reject(unreachable(opts.socketPath, e.code ?? e.message)),
    );
  });
}
