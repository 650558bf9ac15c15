// Fleet link figures: RSS and CPU per minute of an idle daemon with the link on (a real Mosquitto over TLS)
// against the same daemon with it off, and the events per second the link drains to the broker after an
// outage. Needs mosquitto (scripts/ensure-debian-package.sh mosquitto mosquitto). BENCH_FLEET_IDLE_S
// shortens the idle window (default 60 s).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';

const { apiCall } = await import('../dist/api/index.js');

const REPO = join(import.meta.dirname, '..');
const IDLE_S = Number(process.env.BENCH_FLEET_IDLE_S ?? 60);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sh(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function pki(dir) {
  mkdirSync(dir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  sh('openssl', ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=bench CA'], dir);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, ext] of [['server', true], ['dev-b', false], ['controller', false]]) {
    sh('openssl', ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name === 'server' ? '127.0.0.1' : name}`], dir);
    sh('openssl', ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, ...(ext ? ['-extfile', 'san.ext'] : [])], dir);
  }
}

function startBroker(dir, port) {
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'allow_anonymous false',
      'log_dest stderr',
      'log_type information',
      `listener ${port} 127.0.0.1`,
      `cafile ${join(dir, 'ca.crt')}`,
      `certfile ${join(dir, 'server.crt')}`,
      `keyfile ${join(dir, 'server.key')}`,
      'require_certificate true',
      'use_identity_as_username true',
      '',
    ].join('\n'),
  );
  const p = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  p.stderr.on('data', (c) => (log += c));
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (log.includes(' running')) {
        clearInterval(t);
        resolve(p);
      } else if (p.exitCode !== null) {
        clearInterval(t);
        reject(new Error(log));
      }
    }, 50);
  });
}

function daemonRoot(base, name, fleet, pkiDir, port) {
  const root = join(base, name);
  mkdirSync(join(root, 'etc/waveos'), { recursive: true });
  mkdirSync(join(root, 'var/lib/waveos/fleet'), { recursive: true });
  for (const [from, to] of [['dev-b.crt', 'tls.crt'], ['dev-b.key', 'tls.key'], ['ca.crt', 'ca.crt']]) writeFileSync(join(root, 'var/lib/waveos/fleet', to), readFileSync(join(pkiDir, from)));
  const fleetSection = fleet ? `fleet:\n  enabled: true\n  fleet: bench\n  broker: mqtts://127.0.0.1:${port}\n  events: { min_severity: info }\n  reconnect: { min: 200ms, max: 1s }\n` : '';
  writeFileSync(join(root, 'etc/waveos/waveos.yaml'), `schema_version: 2\ndevice:\n  device_id: dev-b\n${fleetSection}`);
  return root;
}

function startDaemon(root) {
  return spawn(process.execPath, [join(REPO, 'bin/waveos.js'), 'run', '--root', root, '--log-format', 'json'], { stdio: 'ignore' });
}

async function ready(root) {
  for (let i = 0; i < 300; i++) {
    const r = await apiCall({ socketPath: join(root, 'run/waveos/waveos-admin.sock'), timeoutMs: 2000 }, 'GET', '/v1/status').catch(() => undefined);
    if (r?.status === 200) return r.body;
    await sleep(100);
  }
  throw new Error(`daemon on ${root} did not start`);
}

function usage(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  return { cpuS: ticks / 100, rss };
}

function subscriber(dir, port) {
  const c = mqtt.connect(`mqtts://127.0.0.1:${port}`, {
    ca: readFileSync(join(dir, 'ca.crt')),
    cert: readFileSync(join(dir, 'controller.crt')),
    key: readFileSync(join(dir, 'controller.key')),
    clientId: 'bench-controller',
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 600 },
  });
  const seqs = new Set();
  c.on('message', (topic, payload) => {
    if (!topic.endsWith('/events')) return;
    for (const e of JSON.parse(payload.toString()).body.events) seqs.add(e.seq);
  });
  return new Promise((resolve) => c.on('connect', () => c.subscribe('waveos/bench/#', { qos: 1 }, () => resolve({ c, seqs }))));
}

export async function run(row) {
  if (spawnSync('bash', [join(REPO, 'scripts/ensure-debian-package.sh'), 'mosquitto', 'mosquitto']).status !== 0) {
    process.stderr.write('fleet bench: mosquitto not available, skipped\n');
    return;
  }
  const base = mkdtempSync(join(tmpdir(), 'bench-fleet-'));
  const procs = [];
  try {
    const pkiDir = join(base, 'pki');
    pki(pkiDir);
    const port = await freePort();
    let broker = await startBroker(pkiDir, port);
    const sub = await subscriber(pkiDir, port);
    const offRoot = daemonRoot(base, 'off', false, pkiDir, port);
    const onRoot = daemonRoot(base, 'on', true, pkiDir, port);
    const off = startDaemon(offRoot);
    const on = startDaemon(onRoot);
    procs.push(off, on);
    await Promise.all([ready(offRoot), ready(onRoot)]);
    await sleep(10_000); // settle: start-up work and the first status and events are done
    const a0 = usage(off.pid);
    const b0 = usage(on.pid);
    await sleep(IDLE_S * 1000);
    const a1 = usage(off.pid);
    const b1 = usage(on.pid);
    const perMin = (x0, x1) => ((x1.cpuS - x0.cpuS) * 60) / IDLE_S;
    row('fleet link on: daemon RSS at idle', (b1.rss / 1048576).toFixed(1), 'MB', (a1.rss / 1048576).toFixed(1), 'MB, link off', b1.rss / a1.rss, '< +5 MB');
    row('fleet link on: RSS added by the link', ((b1.rss - a1.rss) / 1048576).toFixed(1), 'MB', '', '', undefined, '< 5 MB');
    row('fleet link on: CPU per minute at idle', perMin(b0, b1).toFixed(3), 's/min', perMin(a0, a1).toFixed(3), 's/min, link off', perMin(b0, b1) / Math.max(perMin(a0, a1), 0.001), '');

    // Throughput: a backlog made while the broker is down, then the time to drain it.
    broker.kill('SIGTERM');
    await new Promise((r) => broker.once('exit', r));
    const sock = join(onRoot, 'run/waveos/waveos-admin.sock');
    for (let i = 0; i < 600; i++) await apiCall({ socketPath: sock }, 'POST', '/v1/mode', { mode: i % 2 ? 'normal' : 'degraded', reason: `bench ${i}` });
    const status = await ready(onRoot);
    const last = status.journal.last_seq;
    const before = sub.seqs.size;
    broker = await startBroker(pkiDir, port);
    // From the first event through after the reconnect (the backoff wait is not the link's throughput).
    while (sub.seqs.size === before) await sleep(5);
    const t0 = performance.now();
    while ([...Array(last).keys()].some((i) => !sub.seqs.has(i + 1))) {
      if (performance.now() - t0 > 120_000) break;
      await sleep(20);
    }
    const s = (performance.now() - t0) / 1000;
    row('fleet link: events drained to the broker after an outage', Math.round((sub.seqs.size - before) / s), 'events/s', sub.seqs.size - before, 'events in backlog', undefined, '');
    sub.c.end(true);
    broker.kill('SIGTERM');
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await sleep(1000);
    rmSync(base, { recursive: true, force: true });
  }
}
