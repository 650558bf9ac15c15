import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCall } from '../daemon/api/index.js';
import { DaemonProcess, readJsonl, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';
import { writeConfig } from './helpers/services.js';

const BURST = 20;
let root: string;
let daemon: DaemonProcess;

beforeAll(async () => {
  root = tempRoot('waveos-throttle-');
  daemon = new DaemonProcess(root, ['--profile', 'prod', '--config', writeConfig(root, { profile: 'prod', api: { auth_failure_burst: BURST } })]);
  await daemon.ready();
});
afterAll(async () => {
  await daemon?.kill('SIGTERM');
  removeRoot(root);
});

/** Guessed-token requests one after another through a keep-alive agent of one socket: which connection each used. */
async function guessOnOneConnection(socketPath: string, n: number): Promise<{ status: number; connection: string | undefined; socket: number }[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const ids = new WeakMap<object, number>();
  let sockets = 0;
  const out: { status: number; connection: string | undefined; socket: number }[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await new Promise((resolve, reject) => {
        const req = request({ socketPath, path: '/v1/status', agent, headers: { authorization: `Bearer wos_guess${i}` } }, (res) => {
          res.resume();
          res.on('end', () => {
            if (!ids.has(req.socket as object)) ids.set(req.socket as object, sockets++);
            resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, socket: ids.get(req.socket as object) ?? -1 });
          });
        });
        req.on('error', reject);
        req.end();
      }),
    );
  }
  agent.destroy();
  return out;
}

describe('failed authentication is throttled per socket and per connection, and the throttling is audited', () => {
  it('a connection that keeps guessing is closed after 10 failures', async () => {
    const r = await guessOnOneConnection(daemon.socket, 10);
    expect(r.map((x) => x.status)).toEqual(Array(10).fill(401));
    // All ten on the first connection, kept alive until the tenth, which the daemon closes.
    expect(new Set(r.map((x) => x.socket))).toEqual(new Set([0]));
    expect(r.slice(0, 9).every((x) => x.connection === 'keep-alive')).toBe(true);
    expect(r[9]?.connection).toBe('close');
  });

  it('a guesser on the token socket gets 429 unjudged after the burst; the admin socket still answers', async () => {
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) {
      const res = await apiCall({ socketPath: daemon.socket, token: `wos_${'A'.repeat(40)}${i}` }, 'GET', '/v1/status');
      statuses.push(res.status);
    }
    const judged = statuses.filter((s) => s === 401).length;
    const refused = statuses.filter((s) => s === 429).length;
    expect(judged + refused).toBe(200);
    // 10 of the burst went to the first test; then one a second comes back.
    const elapsedS = (Date.now() - started) / 1000;
    expect(judged).toBeLessThanOrEqual(BURST - 10 + Math.ceil(elapsedS) + 1);
    expect(refused).toBeGreaterThan(100);
    const admin = await apiCall({ socketPath: join(root, 'run/waveos/waveos-admin.sock') }, 'GET', '/v1/status');
    expect(admin.status).toBe(200);
    const body = (await apiCall({ socketPath: daemon.socket, token: 'wos_x' }, 'GET', '/v1/status')).body as { error: { code: string } };
    expect(body.error.code).toBe('WAVEOS_E_THROTTLED');
  });

  it('the audit log holds one line per judged guess and one summary per window, not one per refusal', async () => {
    const summary = await waitFor(
      'a security.auth_throttled event',
      () => readJsonl(join(root, 'var/lib/waveos/artifacts/latest/events.jsonl')).find((e) => e.kind === 'security.auth_throttled'),
      20_000,
      200,
    );
    expect((summary.data as { socket: string }).socket).toBe('token');
    expect((summary.data as { refused: number }).refused).toBeGreaterThan(100);
    const audit = readFileSync(join(root, 'var/log/waveos/audit.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { action: string; decision: string; socket?: string });
    const guesses = audit.filter((a) => a.socket === 'token' && a.decision === 'deny' && a.action !== 'authenticate');
    expect(guesses.length).toBeLessThan(60);
    expect(audit.filter((a) => a.action === 'authenticate').length).toBeGreaterThanOrEqual(1);
  });
});
