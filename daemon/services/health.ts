import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { HealthSpec } from '../config/index.js';

export interface HealthResult {
  ok: boolean;
  /** What was seen, in words: "heartbeat 7.2 s old (limit 5 s)", "connection refused". */
  detail: string;
  /** The number behind it, where there is one (age in ms, HTTP status, exit code). */
  value?: number;
}

function withTimeout(ms: number, run: (done: (r: HealthResult) => void) => () => void): Promise<HealthResult> {
  return new Promise((resolve) => {
    let finished = false;
    let cleanup: () => void = () => {};
    const done = (r: HealthResult): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      cleanup();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, detail: `no answer within ${ms} ms`, value: ms }), ms);
    cleanup = run(done);
  });
}

/** What a heartbeat check remembers between runs: the file's last mtime and the monotonic time it was seen to change. */
export interface HeartbeatMemo {
  mtimeMs?: number;
  changedMono?: number;
}

/**
 * A heartbeat's age on the monotonic clock: since its mtime was last seen to change. The first sighting uses the
 * wall-clock age (never below 0). So a wall clock that jumps — which moves `now` and old mtimes apart — neither
 * fails a fresh heartbeat nor hides a stale one.
 */
function heartbeatAge(mtimeMs: number, now: number, mono: number, memo: HeartbeatMemo): number {
  if (memo.mtimeMs === undefined || memo.changedMono === undefined) {
    memo.mtimeMs = mtimeMs;
    memo.changedMono = mono - Math.max(0, now - mtimeMs);
  } else if (memo.mtimeMs !== mtimeMs) {
    memo.mtimeMs = mtimeMs;
    memo.changedMono = mono;
  }
  return mono - memo.changedMono;
}

/** Runs one health check; never throws. `now` is wall time, as file mtimes are; `mono` and `memo` time heartbeats. */
export function checkHealth(h: HealthSpec, now: number, mono = performance.now(), memo: HeartbeatMemo = {}): Promise<HealthResult> {
  switch (h.kind) {
    case 'process':
      return Promise.resolve({ ok: true, detail: 'process alive' });
    case 'heartbeat': {
      try {
        const age = heartbeatAge(statSync(h.file).mtimeMs, now, mono, memo);
        const ok = age <= h.max_age_ms;
        return Promise.resolve({ ok, detail: `heartbeat ${h.file} is ${(age / 1000).toFixed(1)} s old (limit ${h.max_age_ms / 1000} s)`, value: Math.round(age) });
      } catch (e) {
        return Promise.resolve({ ok: false, detail: `heartbeat ${h.file} missing (${(e as NodeJS.ErrnoException).code ?? 'error'})` });
      }
    }
    case 'exec':
      return withTimeout(h.timeout_ms, (done) => {
        const c = spawn(h.command, h.args, { stdio: 'ignore', detached: true });
        c.on('error', (e) => done({ ok: false, detail: `cannot run ${h.command}: ${e.message}` }));
        c.on('exit', (code, signal) =>
          done({ ok: code === 0, detail: code === 0 ? `${h.command} exited 0` : `${h.command} exited ${code ?? signal}`, value: code ?? -1 }),
        );
        return () => {
          if (c.exitCode === null && c.signalCode === null && c.pid) {
            try {
              process.kill(-c.pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
        };
      });
    case 'tcp':
      return withTimeout(h.timeout_ms, (done) => {
        const s = connect({ host: h.host, port: h.port });
        s.on('connect', () => done({ ok: true, detail: `connected to ${h.host}:${h.port}` }));
        s.on('error', (e) => done({ ok: false, detail: `cannot connect to ${h.host}:${h.port}: ${(e as NodeJS.ErrnoException).code ?? e.message}` }));
        return () => s.destroy();
      });
    case 'http':
      return withTimeout(h.timeout_ms, (done) => {
        const req = (h.url.startsWith('https:') ? httpsRequest : request)(h.url, { method: 'GET' }, (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          done({ ok: status === h.expect_status, detail: `GET ${h.url} answered ${status} (expected ${h.expect_status})`, value: status });
        });
        req.on('error', (e) => done({ ok: false, detail: `GET ${h.url} failed: ${(e as NodeJS.ErrnoException).code ?? e.message}` }));
        req.end();
        return () => req.destroy();
      });
  }
}
