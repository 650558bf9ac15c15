import { createServer as createHttp } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfigText, serviceSpec } from '../config/index.js';
import { FakeClock, isWaveosError, silentLogger } from '../core/index.js';
import { Journal } from '../journal/index.js';
import { Supervisor, checkHealth } from './index.js';

const base = { interval_ms: 1000, failures: 1, start_grace_ms: 0 };

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'health-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('health checks', () => {
  it('heartbeat: fresh passes, stale and missing fail with the age in numbers', async () => {
    const f = join(dir, 'hb');
    writeFileSync(f, 'x');
    const now = Date.now();
    expect((await checkHealth({ kind: 'heartbeat', file: f, max_age_ms: 5_000, ...base }, now)).ok).toBe(true);
    utimesSync(f, (now - 10_000) / 1000, (now - 10_000) / 1000);
    const stale = await checkHealth({ kind: 'heartbeat', file: f, max_age_ms: 5_000, ...base }, now);
    expect(stale.ok).toBe(false);
    expect(stale.value).toBeGreaterThanOrEqual(9_000);
    expect((await checkHealth({ kind: 'heartbeat', file: join(dir, 'none'), max_age_ms: 5_000, ...base }, now)).detail).toMatch(/missing/);
  });

  it('heartbeat age is monotonic: a wall clock that jumps neither fails a beating heart nor hides a stopped one', async () => {
    const f = join(dir, 'hb');
    writeFileSync(f, 'x');
    const spec = { kind: 'heartbeat' as const, file: f, max_age_ms: 5_000, ...base };
    const memo = {};
    const wall = Date.now();
    expect((await checkHealth(spec, wall, 1_000, memo)).ok).toBe(true);
    // The wall clock jumps an hour forward; the service writes its next beat (a new mtime, on the old timeline).
    utimesSync(f, (wall + 500) / 1000, (wall + 500) / 1000);
    expect((await checkHealth(spec, wall + 3_600_000, 2_000, memo)).ok).toBe(true);
    // Back two hours, and the service stops beating: 6 s later on the monotonic clock it is stale, whatever now says.
    const stale = await checkHealth(spec, wall - 3_600_000, 8_000, memo);
    expect(stale.ok).toBe(false);
    expect(stale.value).toBe(6_000);
  });

  it('exec: exit 0 passes, non-zero fails, a hang times out', async () => {
    expect((await checkHealth({ kind: 'exec', command: '/bin/true', args: [], timeout_ms: 2_000, ...base }, 0)).ok).toBe(true);
    expect((await checkHealth({ kind: 'exec', command: '/bin/false', args: [], timeout_ms: 2_000, ...base }, 0)).ok).toBe(false);
    const hung = await checkHealth({ kind: 'exec', command: '/bin/sleep', args: ['5'], timeout_ms: 100, ...base }, 0);
    expect(hung).toMatchObject({ ok: false, value: 100 });
  });

  it('tcp and http against real listeners', async () => {
    const tcp = createServer((s) => s.end()).listen(0, '127.0.0.1');
    await new Promise((r) => tcp.once('listening', r));
    const port = (tcp.address() as AddressInfo).port;
    expect((await checkHealth({ kind: 'tcp', host: '127.0.0.1', port, timeout_ms: 1_000, ...base }, 0)).ok).toBe(true);
    tcp.close();
    await new Promise((r) => tcp.once('close', r));
    expect((await checkHealth({ kind: 'tcp', host: '127.0.0.1', port, timeout_ms: 1_000, ...base }, 0)).detail).toMatch(/ECONNREFUSED/);
    const http = createHttp((req, res) => {
      res.statusCode = req.url === '/ok' ? 200 : 503;
      res.end();
    }).listen(0, '127.0.0.1');
    await new Promise((r) => http.once('listening', r));
    const hp = (http.address() as AddressInfo).port;
    expect((await checkHealth({ kind: 'http', url: `http://127.0.0.1:${hp}/ok`, expect_status: 200, timeout_ms: 1_000, ...base }, 0)).ok).toBe(true);
    const bad = await checkHealth({ kind: 'http', url: `http://127.0.0.1:${hp}/no`, expect_status: 200, timeout_ms: 1_000, ...base }, 0);
    expect(bad).toMatchObject({ ok: false, value: 503 });
    http.close();
  });
});

describe('service config', () => {
  it('fills defaults: non-critical services run in normal mode only, critical ones in every mode', () => {
    const { file } = parseConfigText(
      ['schema_version: 2', 'services:', '  - {name: a, command: /bin/a}', '  - {name: b, command: /bin/b, critical: true, stop_timeout: 3s, health: {kind: tcp, port: 80}}'].join('\n'),
      'c.yaml',
    );
    const [a, b] = (file.services ?? []).map(serviceSpec);
    expect(a).toMatchObject({ modes: ['normal'], stop_signal: 'SIGTERM', stop_timeout_ms: 10_000, health: { kind: 'process' } });
    expect(b).toMatchObject({ modes: ['normal', 'degraded', 'safe'], stop_timeout_ms: 3_000, health: { kind: 'tcp', host: '127.0.0.1', port: 80 } });
  });

  it('rejects duplicate names and bad signals with located messages', () => {
    try {
      parseConfigText(['schema_version: 2', 'services:', '  - {name: a, command: x}', '  - {name: a, command: y, stop_signal: TERM}'].join('\n'), 'c.yaml');
      expect.unreachable();
    } catch (e) {
      expect(isWaveosError(e)).toBe(true);
      const msgs = (e as { problems: { path?: string; line?: number; message: string }[] }).problems;
      expect(msgs).toContainEqual(expect.objectContaining({ path: 'services.1.name', line: 4, message: 'service "a" is declared twice' }));
      expect(msgs).toContainEqual(expect.objectContaining({ path: 'services.1.stop_signal', message: expect.stringMatching(/signal name/) as unknown }));
    }
  });
});

describe('services added at run time', () => {
  const sink = { attach: (_s: string, stream: NodeJS.ReadableStream) => void stream.resume() };
  const supervisor = (journal: Journal): Supervisor =>
    new Supervisor({ specs: [serviceSpec({ name: 'conf', command: '/bin/true' })], journal, clock: new FakeClock(), log: silentLogger(), sink, root: dir, runId: 'r1' });

  it('are validated, never shadow a configured service, and go to the ladder only once off trial', async () => {
    const journal = Journal.openWriter(join(dir, 'j.db'), { clock: new FakeClock(), runId: 'r1', bootId: 'b' });
    try {
      const sup = supervisor(journal);
      const exits: string[] = [];
      sup.onExit((i) => exits.push(`${i.name}:${i.code}`));
      expect(() => sup.addService({ name: 'conf', command: '/bin/true' })).toThrow(/configured service is already named/);
      expect(() => sup.addService({ name: 'bad name', command: '/bin/true' })).toThrow(/service bad name: name/);
      sup.addService({ name: 'app-x', command: '/bin/sh', args: ['-c', 'exit 3'], stop_timeout: '2s' }, { trial: true });
      expect(sup.names()).toEqual(['conf', 'app-x']);
      expect(sup.spec('app-x').stop_timeout_ms).toBe(2_000);
      await sup.startService('app-x', { reason: 'test', source: 'test' });
      await expect.poll(() => sup.state('app-x').last_exit?.code).toBe(3);
      expect(exits).toEqual([]); // on trial: the trial's verdict, not the ladder's
      sup.setTrial('app-x', false);
      await sup.startService('app-x', { reason: 'test', source: 'test' });
      await expect.poll(() => exits).toEqual(['app-x:3']);
      expect(sup.state('app-x')).toMatchObject({ pid: null, trial: false, starts: 2 });
      sup.removeService('app-x');
      expect(sup.has('app-x')).toBe(false);
      expect(sup.isRunning('app-x')).toBe(false);
      expect(() => sup.removeService('conf')).toThrow(/configured service/);
    } finally {
      journal.close();
    }
  });
});
