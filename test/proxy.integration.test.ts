import { mkdirSync, writeFileSync } from 'node:fs';
import { type IncomingHttpHeaders, type Server, createServer, request } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, cli, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';
import { freePort } from './helpers/net.js';

const roots: string[] = [];
const daemons: DaemonProcess[] = [];
const servers: Server[] = [];
afterEach(() => {
  for (const d of daemons.splice(0)) d.proc.kill('SIGKILL');
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
  for (const r of roots.splice(0)) removeRoot(r);
});


function post(port: number, path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the uplink proxy in the daemon', () => {
  it('is off by default, and when enabled spools durable requests across a kill -9 and delivers them in order', async () => {
    const off = tempRoot('waveos-proxy-');
    roots.push(off);
    const plain = new DaemonProcess(off);
    daemons.push(plain);
    await plain.ready();
    expect(plain.output).not.toMatch(/uplink proxy listening/);
    plain.proc.kill('SIGKILL');

    const root = tempRoot('waveos-proxy-');
    roots.push(root);
    const [proxyPort, upPort] = [await freePort(), await freePort()];
    mkdirSync(join(root, 'etc/waveos'), { recursive: true });
    writeFileSync(
      join(root, 'etc/waveos/waveos.yaml'),
      [
        'schema_version: 2',
        'proxy:',
        '  enabled: true',
        `  listen: 127.0.0.1:${proxyPort}`,
        '  upstreams:',
        `    cloud: {url: "http://127.0.0.1:${upPort}", retry: {base: 50ms, max: 300ms}, breaker: {failures: 3, open_for: 300ms}}`,
        '  routes:',
        '    - {name: readings, upstream: cloud, path: /v1/readings, durable: true, json_schema: {type: object, required: [seq]}}',
        '',
      ].join('\n'),
    );
    const first = new DaemonProcess(root);
    daemons.push(first);
    await first.ready();
    for (let i = 1; i <= 10; i++) expect((await post(proxyPort, '/v1/readings', JSON.stringify({ seq: i }))).status).toBe(202);
    expect((await post(proxyPort, '/v1/nowhere', '{}')).status).toBe(404);
    expect((await post(proxyPort, '/v1/readings', '{"no": "seq"}')).status).toBe(422);
    const refusedStatuses = (): number[] =>
      (JSON.parse(cli(['events', '--kind', 'proxy.refused', '--json', '--root', root]).stdout) as { data: { status: number } }[]).map((e) => e.data.status).sort();
    await waitFor('both refusals journaled', () => (refusedStatuses().length === 2 ? true : undefined), 10_000, 100);
    await first.kill('SIGKILL');

    const seen: { seq: number; key: IncomingHttpHeaders[string] }[] = [];
    const up = createServer((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        seen.push({ seq: (JSON.parse(b) as { seq: number }).seq, key: req.headers['idempotency-key'] });
        res.end('{}');
      });
    });
    servers.push(up);
    await new Promise<void>((r) => up.listen(upPort, '127.0.0.1', () => r()));
    const second = new DaemonProcess(root);
    daemons.push(second);
    await second.ready();
    await waitFor('all ten delivered', () => (new Set(seen.map((s) => s.key)).size === 10 ? true : undefined), 20_000, 100);
    const order = seen.filter((s, i) => seen.findIndex((t) => t.key === s.key) === i).map((s) => s.seq);
    expect(order).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(refusedStatuses()).toEqual([404, 422]);
    await second.kill('SIGTERM');
  });
});
