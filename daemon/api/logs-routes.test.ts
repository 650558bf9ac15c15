import { describe, expect, it } from 'vitest';
import { WaveosError, silentLogger } from '../core/index.js';
import { asRole } from '../../test/helpers/authorizers.js';
import { type ApiResponse, dispatch, logsRoutes } from './index.js';

async function* lines(xs: string[]): AsyncGenerator<string> {
  for (const x of xs) yield x;
}

async function* missing(): AsyncGenerator<string> {
  yield* [];
  throw new WaveosError('WAVEOS_E_NOT_FOUND', 'no spooled logs for "x"');
}

function deps(read: (q: { source: string; since?: string; grep?: string; follow: boolean }) => AsyncGenerator<string>) {
  let flushed = 0;
  return {
    routes: logsRoutes({ readLogs: read, flush: async () => void flushed++ }),
    authorize: asRole('viewer'),
    log: silentLogger(),
    flushed: () => flushed,
  };
}

async function body(r: ApiResponse | { stream: AsyncIterable<string | Uint8Array> }): Promise<string[]> {
  if (!('stream' in r)) throw new Error(`expected a stream, got ${r.status} ${r.body}`);
  const out: string[] = [];
  for await (const l of r.stream) out.push(typeof l === 'string' ? l : Buffer.from(l).toString('utf8'));
  return out;
}

describe('GET /v1/logs', () => {
  it('streams the source’s lines as NDJSON for a viewer, after flushing what waits in memory', async () => {
    const seen: unknown[] = [];
    const d = deps((q) => {
      seen.push(q);
      return lines(['a 1', 'b 2']);
    });
    const r = await dispatch(d, { method: 'GET', url: '/v1/logs?source=sensor-app&grep=b&since=2026-11-22T01:00:00%2B01:00' });
    expect(await body(r)).toEqual(['{"line":"a 1"}\n', '{"line":"b 2"}\n']);
    expect(seen[0]).toMatchObject({ source: 'sensor-app', grep: 'b', since: '2026-11-22T01:00:00+01:00', follow: false });
    expect(d.flushed()).toBe(1);
  });

  it('answers 404 for an unknown source and 400 for a bad name or time', async () => {
    const d = deps(() => missing());
    const r = await dispatch(d, { method: 'GET', url: '/v1/logs?source=x' });
    expect('stream' in r ? 0 : r.status).toBe(404);
    for (const url of ['/v1/logs?source=../etc', '/v1/logs', '/v1/logs?source=a&since=yesterday']) {
      const bad = await dispatch(d, { method: 'GET', url });
      expect('stream' in bad ? 0 : bad.status).toBe(400);
    }
  });
});
