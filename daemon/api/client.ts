import { createWriteStream } from 'node:fs';
import { request } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { WaveosError } from '../core/index.js';

export interface ClientOptions {
  socketPath: string;
  token?: string;
  timeoutMs?: number;
}

export interface ClientResponse {
  status: number;
  body: unknown;
}

function unreachable(socketPath: string, why: string): WaveosError {
  return new WaveosError(
    'WAVEOS_E_DAEMON_UNREACHABLE',
    `the daemon is not reachable at ${socketPath}: ${why} (is \`waveos run\` running with the same --root?)`,
  );
}

function headers(opts: ClientOptions): Record<string, string> {
  return opts.token ? { authorization: `Bearer ${opts.token}` } : {};
}

/** One request over the control socket; connection failures become exit code 3. */
export function apiCall(opts: ClientOptions, method: string, path: string, body?: unknown): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath: opts.socketPath,
        method,
        path,
        headers: { ...headers(opts), ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            // not JSON: hand back the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e: NodeJS.ErrnoException) => reject(unreachable(opts.socketPath, e.code ?? e.message)));
    req.end(payload);
  });
}

/** A streaming GET: calls onLine for each NDJSON line until the server ends or the signal aborts. */
export function apiStream(opts: ClientOptions, path: string, onLine: (line: string) => void, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: opts.socketPath, method: 'GET', path, headers: headers(opts) }, (res) => {
      if ((res.statusCode ?? 0) >= 300) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(res.statusCode ?? 0));
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
    });
    signal?.addEventListener('abort', () => {
      req.destroy();
      resolve(0);
    });
    req.on('error', (e: NodeJS.ErrnoException) => (signal?.aborted ? resolve(0) : reject(unreachable(opts.socketPath, e.code ?? e.message))));
    req.end();
  });
}

/**
 * A GET whose body goes to a file (a download), streamed; a non-2xx answer is returned with its parsed
 * body and nothing is written.
 */
export function apiDownload(opts: ClientOptions, path: string, destFile: string): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: opts.socketPath, method: 'GET', path, headers: headers(opts), timeout: opts.timeoutMs ?? 60_000 }, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status, body });
        });
        return;
      }
      pipeline(res, createWriteStream(destFile)).then(
        () => resolve({ status, body: null }),
        (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e: NodeJS.ErrnoException) => reject(unreachable(opts.socketPath, e.code ?? e.message)));
    req.end();
  });
}
