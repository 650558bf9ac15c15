import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiServer, type ApiResponse, type Authorizer, type ClientResponse, type Route, apiCall, defineRoute, dispatch } from '../api/index.js';
import { type ErrorCode, ErrorCodes, WaveosError, silentLogger } from '../core/index.js';
import { checkResponse } from './api-errors.js';

/** Token "viewer" is a viewer, "full" stands for a full disk, no token is admin, anything else is unknown. */
const authorize: Authorizer = ({ token, need }) => {
  if (token === undefined) return { allowed: true, principal: { name: 'local', role: 'admin' } };
  if (token === 'full') return { allowed: false, principal: { name: 'full', role: 'admin' }, diskFull: true, reason: 'the disk is full' };
  if (token === 'viewer') return need === 'viewer' ? { allowed: true, principal: { name: 'viewer', role: 'viewer' } } : { allowed: false, principal: { name: 'viewer', role: 'viewer' }, reason: 'needs operator' };
  return { allowed: false, principal: null, reason: 'unknown token' };
};

const routes: Route[] = [
  // Throws the code named in the query, as a handler deep in the daemon would.
  defineRoute({
    method: 'GET',
    path: '/throw',
    action: 'test.throw',
    role: 'viewer',
    query: z.object({ code: z.string() }),
    handle: ({ query }) => {
      throw new WaveosError(query.code as ErrorCode, `thrown: ${query.code}`);
    },
  }),
  defineRoute({ method: 'POST', path: '/act', action: 'test.act', role: 'operator', body: z.object({ n: z.number() }), handle: () => ({ kind: 'json', body: {} }) }),
];
const deps = { routes, authorize, log: silentLogger() };

async function send(method: string, url: string, opts: { token?: string; body?: string } = {}): Promise<ClientResponse> {
  const r = await dispatch(deps, { method, url, headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {}, ...(opts.body === undefined ? {} : { body: opts.body }) });
  if ('stream' in r) throw new Error('unexpected stream');
  return { status: (r as ApiResponse).status, body: JSON.parse((r as ApiResponse).body) };
}

/** What the command makes of an answer: the error checkResponse throws. */
function cliError(r: ClientResponse): WaveosError {
  try {
    checkResponse(r);
  } catch (e) {
    if (e instanceof WaveosError) return e;
    throw e;
  }
  throw new Error(`checkResponse accepted HTTP ${r.status}`);
}

/** The statuses a code may be sent with: its own and, where the edge tells cases apart, the others. */
function statusesOf(code: ErrorCode): readonly number[] {
  const spec = ErrorCodes[code];
  return [spec.http, ...('alsoHttp' in spec ? spec.alsoHttp : [])];
}

describe('an error code over the API', () => {
  it.each(Object.keys(ErrorCodes) as ErrorCode[])('%s thrown by a handler reaches the command as itself', async (code) => {
    const r = await send('GET', `/throw?code=${code}`);
    expect(r.status).toBe(ErrorCodes[code].http);
    expect(r.body).toEqual({ error: { code, message: `thrown: ${code}` } });
    const e = cliError(r);
    expect(e.code).toBe(code);
    expect(e.exitCode).toBe(ErrorCodes[code].exit);
    expect(e.message).toContain(`thrown: ${code}`);
  });

  it.each([
    ['an unknown endpoint', 'GET', '/nope', {}, 'WAVEOS_E_NOT_FOUND', 404, 2],
    ['a wrong method', 'DELETE', '/act', {}, 'WAVEOS_E_METHOD_NOT_ALLOWED', 405, 2],
    ['a body that is not JSON', 'POST', '/act', { body: '{' }, 'WAVEOS_E_BAD_REQUEST', 400, 2],
    ['a body that breaks the schema', 'POST', '/act', { body: '{"n":"x"}' }, 'WAVEOS_E_BAD_REQUEST', 400, 2],
    ['a query that breaks the schema', 'GET', '/throw', {}, 'WAVEOS_E_BAD_REQUEST', 400, 2],
    ['an unknown token', 'GET', '/throw?code=WAVEOS_E_USAGE', { token: 'nope' }, 'WAVEOS_E_PERMISSION', 401, 4],
    ['a role too low', 'POST', '/act', { token: 'viewer', body: '{"n":1}' }, 'WAVEOS_E_PERMISSION', 403, 4],
    ['a full disk', 'POST', '/act', { token: 'full', body: '{"n":1}' }, 'WAVEOS_E_DISK_FULL', 503, 1],
  ] as const)('%s is answered with a code whose table holds the status sent', async (_what, method, url, opts, code, status, exit) => {
    const r = await send(method, url, opts);
    expect(r.status).toBe(status);
    expect((r.body as { error: { code: string } }).error.code).toBe(code);
    expect(statusesOf(code)).toContain(status);
    const e = cliError(r);
    expect(e.code).toBe(code);
    expect(e.exitCode).toBe(exit);
  });

  it('answers a body over the limit with WAVEOS_E_BODY_TOO_LARGE and 413', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'api-errors-'));
    const socketPath = join(dir, 'api.sock');
    const server = new ApiServer({ socketPath, ...deps });
    await server.start();
    try {
      const r = await apiCall({ socketPath }, 'POST', '/act', { n: 1, pad: 'x'.repeat(70 * 1024) });
      expect(r.status).toBe(413);
      expect(statusesOf('WAVEOS_E_BODY_TOO_LARGE')).toContain(413);
      expect(cliError(r)).toMatchObject({ code: 'WAVEOS_E_BODY_TOO_LARGE', exitCode: 2 });
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('an answer without a WaveOS code', () => {
  it.each([
    [401, 'WAVEOS_E_PERMISSION', 4],
    [403, 'WAVEOS_E_PERMISSION', 4],
    [400, 'WAVEOS_E_USAGE', 2],
    [404, 'WAVEOS_E_USAGE', 2],
    [405, 'WAVEOS_E_USAGE', 2],
    [413, 'WAVEOS_E_USAGE', 2],
    [422, 'WAVEOS_E_RUNTIME', 1],
    [500, 'WAVEOS_E_RUNTIME', 1],
    [503, 'WAVEOS_E_RUNTIME', 1],
  ] as const)('HTTP %i is taken as %s', (status, code, exit) => {
    for (const body of ['<html>oops</html>', null, { error: { code: 'SOMEONE_ELSES', message: 'm' } }, { error: { code: 'toString' } }]) {
      const e = cliError({ status, body });
      expect(e.code).toBe(code);
      expect(e.exitCode).toBe(exit);
    }
  });

  it('lets a 2xx answer through', () => {
    expect(checkResponse({ status: 200, body: { ok: 1 } })).toEqual({ ok: 1 });
  });
});
