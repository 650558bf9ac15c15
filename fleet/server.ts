/*
 * The controller's HTTP side: `/metrics` for Prometheus, `/bundles/<sha256>.wbundle` (the bundle files
 * rollouts point devices at, with Range for resumed downloads) and `PUT /evidence/<device>/<cmd id>` (where a
 * device uploads the pack that `evidence pull` asked for). Everything served comes from the database or the
 * store directory, so any controller serves any request.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, fsyncSync, mkdirSync, openSync, closeSync, renameSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { TOPIC_ID } from '../daemon/fleet/protocol.js';
import type { Db } from './db.js';

export interface MetricsSource {
  db: Db;
  fleet: string;
  controller: string;
  extra: () => string[];
}

const esc = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export async function metricsText(m: MetricsSource): Promise<string> {
  const f = m.fleet;
  const out: string[] = [];
  const gauge = (name: string, help: string, rows: { labels: Record<string, string>; value: number }[]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const r of rows) {
      const l = Object.entries(r.labels).map(([k, v]) => `${k}="${esc(v)}"`).join(',');
      out.push(`${name}${l ? `{${l}}` : ''} ${r.value}`);
    }
  };
  const q = async (sql: string, params: unknown[] = [f]): Promise<Record<string, string>[]> => (await m.db.query<Record<string, string>>(sql, params)).rows;
  const byVersion = await q('SELECT COALESCE(waveos_version, \'unknown\') AS k, COUNT(*) AS n FROM fleet_devices WHERE fleet = $1 GROUP BY 1');
  gauge('waveos_fleet_devices', 'Devices in the inventory by WaveOS version.', byVersion.map((r) => ({ labels: { version: String(r.k) }, value: Number(r.n) })));
  const byMode = await q('SELECT COALESCE(mode, \'unknown\') AS k, COUNT(*) AS n FROM fleet_devices WHERE fleet = $1 GROUP BY 1');
  gauge('waveos_fleet_devices_by_mode', 'Devices by operating mode.', byMode.map((r) => ({ labels: { mode: String(r.k) }, value: Number(r.n) })));
  const byHealth = await q(`SELECT CASE WHEN health IS NULL THEN 'unknown' WHEN health >= 90 THEN '90-100' WHEN health >= 70 THEN '70-89' WHEN health >= 50 THEN '50-69' ELSE '0-49' END AS k, COUNT(*) AS n FROM fleet_devices WHERE fleet = $1 GROUP BY 1`);
  gauge('waveos_fleet_devices_by_health', 'Devices by health score bucket.', byHealth.map((r) => ({ labels: { bucket: String(r.k) }, value: Number(r.n) })));
  const online = await q('SELECT COUNT(*) FILTER (WHERE last_seen > now() - interval \'90 seconds\') AS on, MAX(link_lag_ms) AS maxlag, AVG(link_lag_ms) AS avglag FROM fleet_devices WHERE fleet = $1');
  gauge('waveos_fleet_devices_online', 'Devices heard from in the last 90 s.', [{ labels: {}, value: Number(online[0]?.on ?? 0) }]);
  gauge('waveos_fleet_link_lag_seconds', 'Delay between a device message\'s timestamp and its arrival at the controller (last message per device).', [
    { labels: { stat: 'mean' }, value: Number(online[0]?.avglag ?? 0) / 1000 },
    { labels: { stat: 'max' }, value: Number(online[0]?.maxlag ?? 0) / 1000 },
  ]);
  const ro = await q('SELECT r.id, r.state, r.wave, (SELECT COUNT(*) FROM fleet_rollout_devices d WHERE d.rollout_id = r.id) AS total, (SELECT COUNT(*) FROM fleet_rollout_devices d WHERE d.rollout_id = r.id AND d.state <> \'pending\') AS sent FROM fleet_rollouts r WHERE r.fleet = $1 AND r.state IN (\'running\', \'paused\', \'halted\')');
  gauge('waveos_fleet_rollout_wave', 'Current wave of each open rollout (0 = canary).', ro.map((r) => ({ labels: { rollout: String(r.id), state: String(r.state) }, value: Number(r.wave) })));
  gauge('waveos_fleet_rollout_progress_ratio', 'Share of an open rollout\'s devices sent the new desired state.', ro.map((r) => ({ labels: { rollout: String(r.id) }, value: Number(r.total) ? Number(r.sent) / Number(r.total) : 0 })));
  out.push(...m.extra());
  return `${out.join('\n')}\n`;
}

export interface ServerDeps extends MetricsSource {
  store: string;
  log: (msg: string) => void;
}

function serveBundle(d: ServerDeps, sha: string, req: IncomingMessage, res: ServerResponse): void {
  const file = join(d.store, 'bundles', `${sha}.wbundle`);
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    res.writeHead(404).end('no such bundle\n');
    return;
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0;
  if (start >= size && size > 0) {
    res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    return;
  }
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'content-length': size - start, 'accept-ranges': 'bytes' };
  if (m) headers['content-range'] = `bytes ${start}-${size - 1}/${size}`;
  res.writeHead(m ? 206 : 200, headers);
  createReadStream(file, { start }).pipe(res);
}

async function receiveEvidence(d: ServerDeps, device: string, cmdId: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const row = await d.db.query<{ state: string }>('SELECT state FROM fleet_evidence WHERE fleet = $1 AND device_id = $2 AND cmd_id = $3', [d.fleet, device, cmdId]);
  if (row.rows[0]?.state !== 'requested' && row.rows[0]?.state !== 'uploaded') {
    res.writeHead(404).end('no evidence request with this id for this device\n');
    return;
  }
  const dir = join(d.store, 'evidence', device);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${cmdId}.${randomUUID()}.part`);
  const hash = createHash('sha256');
  let bytes = 0;
  const ws = createWriteStream(tmp, { mode: 0o640 });
  await new Promise<void>((resolve, reject) => {
    req.on('data', (b: Buffer) => {
      hash.update(b);
      bytes += b.length;
    });
    req.pipe(ws);
    ws.on('finish', resolve);
    ws.on('error', reject);
    req.on('error', reject);
  });
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  const file = join(dir, `${cmdId}.tar.gz`);
  renameSync(tmp, file);
  const sha = hash.digest('hex');
  await d.db.query('UPDATE fleet_evidence SET state = \'stored\', file = $4, bytes = $5, sha256 = $6, stored_at = now() WHERE fleet = $1 AND device_id = $2 AND cmd_id = $3', [d.fleet, device, cmdId, file, bytes, sha]);
  d.log(`evidence from ${device} (${cmdId}): ${bytes} bytes stored in ${file}`);
  res.writeHead(201, { 'content-type': 'application/json' }).end(`${JSON.stringify({ file, bytes, sha256: sha })}\n`);
}

export function startServer(d: ServerDeps, port: number, host: string): Promise<Server> {
  const srv = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const fail = (e: unknown): void => {
      if (!res.headersSent) res.writeHead(500);
      res.end(`${(e as Error).message}\n`);
    };
    if (req.method === 'GET' && url.pathname === '/metrics') {
      metricsText(d).then((t) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(t), fail);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/healthz') {
      res.writeHead(200).end('ok\n');
      return;
    }
    const b = /^\/bundles\/([0-9a-f]{64})\.wbundle$/.exec(url.pathname);
    if (b && (req.method === 'GET' || req.method === 'HEAD')) return serveBundle(d, b[1] as string, req, res);
    const ev = /^\/evidence\/([^/]+)\/([0-9a-f-]{36})$/.exec(url.pathname);
    if (ev && (req.method === 'PUT' || req.method === 'POST') && TOPIC_ID.test(ev[1] as string)) {
      receiveEvidence(d, ev[1] as string, ev[2] as string, req, res).catch(fail);
      return;
    }
    res.writeHead(404).end('not found\n');
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, host, () => resolve(srv));
  });
}
