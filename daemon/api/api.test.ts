import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, silentLogger } from '../core/index.js';
import { Journal, type JournalEvent } from '../journal/index.js';
import { ApiServer, type ApiResponse, type Authorizer, apiCall, apiStream, coreRoutes, dispatch } from './index.js';

let dir: string;
let journal: Journal;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'api-'));
  journal = Journal.openWriter(join(dir, 'j.db'), { clock: new FakeClock(), runId: 'r', bootId: 'b', batchDelayMs: 1 });
});
afterEach(() => {
  journal.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The unit layer's stand-in: token "good" is a viewer, no token is admin, anything else is unknown. */
const testAuthorizer: Authorizer = ({ token }) =>
  token === undefined
    ? { allowed: true, principal: { name: 'local', role: 'admin' } }
    : token === 'good'
      ? { allowed: true, principal: { name: 'good', role: 'viewer' } }
      : { allowed: false, principal: null, reason: 'unknown token' };

function deps() {
  return { routes: coreRoutes({ journal, status: () => ({ run_id: 'r', mode: 'normal' }) }), authorize: testAuthorizer, log: silentLogger() };
}

async function call(method: string, url: string, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const r = await dispatch(deps(), { method, url, headers });
  if ('stream' in r) throw new Error('unexpected stream');
  return r;
}

describe('dispatch', () => {
  it('serves status', async () => {
    const r = await call('GET', '/v1/status');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ run_id: 'r', mode: 'normal' });
  });

  it('answers 404 for an unknown path and 405 for a wrong method', async () => {
    expect((await call('GET', '/v1/nope')).status).toBe(404);
    expect((await call('POST', '/v1/status')).status).toBe(405);
  });

  it('rejects bad query parameters with 400 and the offending field', async () => {
    const r = await call('GET', '/v1/events?limit=lots');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.details[0].path).toBe('limit');
    expect((await call('GET', '/v1/events?extra=1')).status).toBe(400);
  });

  it('asks the authorizer before anything else, and passes on its denial', async () => {
    expect((await call('GET', '/v1/status', { authorization: 'Bearer nope' })).status).toBe(401);
    expect((await call('GET', '/v1/status', { authorization: 'Bearer good' })).status).toBe(200);
    expect((await call('GET', '/v1/events?limit=lots', { authorization: 'Bearer nope' })).status).toBe(401);
  });

  it('filters events by kind and seq', async () => {
    journal.append({ kind: 'service.restart', source: 's', reason: 'r' });
    journal.append({ kind: 'daemon.start', source: 's', reason: 'r' });
    const body = JSON.parse((await call('GET', '/v1/events?kind=service')).body) as { events: JournalEvent[] };
    expect(body.events.map((e) => e.kind)).toEqual(['service.restart']);
    const after = JSON.parse((await call('GET', '/v1/events?after_seq=1')).body) as { events: JournalEvent[] };
    expect(after.events.map((e) => e.seq)).toEqual([2]);
  });

  it('answers any garbage URL with a 4xx, never a 5xx or a throw', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80 }), fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'X'), async (path, method) => {
        const r = await dispatch(deps(), { method, url: `/v1/events?${path}` });
        if (!('stream' in r)) expect(r.status).toBeLessThan(500);
        const r2 = await dispatch(deps(), { method, url: path });
        if (!('stream' in r2)) expect(r2.status).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
  });
});

describe('the control socket', () => {
  it('serves over a real unix socket, 0600, and streams new events to a follower', async () => {
    const socketPath = join(dir, 'w.sock');
    const server = new ApiServer({ socketPath, ...deps() });
    await server.start();
    try {
      expect(statSync(socketPath).mode & 0o777).toBe(0o600);
      const r = await apiCall({ socketPath }, 'GET', '/v1/status');
      expect(r).toEqual({ status: 200, body: { run_id: 'r', mode: 'normal' } });
      journal.append({ kind: 'daemon.start', source: 's', reason: 'r' });
      const abort = new AbortController();
      const got: string[] = [];
      const done = apiStream(
        { socketPath },
        '/v1/events?follow=1&after_seq=0',
        (l) => {
          got.push((JSON.parse(l) as JournalEvent).kind);
          if (got.length === 1) journal.append({ kind: 'daemon.stop', source: 's', reason: 'r' });
          if (got.length === 2) abort.abort();
        },
        abort.signal,
      );
      await done;
      expect(got).toEqual(['daemon.start', 'daemon.stop']);
    } finally {
      await server.stop();
    }
    await expect(apiCall({ socketPath }, 'GET', '/v1/status')).rejects.toMatchObject({ code: 'WAVEOS_E_DAEMON_UNREACHABLE' });
  });
});
