// Fleet link figures: the link's RSS and CPU cost at idle and the events per second it drains to the broker
// after an outage. Needs mosquitto (scripts/ensure-debian-package.sh mosquitto mosquitto).
//
// RSS is measured A/B/A/B: link-off and link-on daemons run one after the other (never side by side), each on
// a fresh root with the unit's memory settings (the Environment= lines of systemd/waveos.service:
// NODE_OPTIONS, MALLOC_ARENA_MAX) and `--profile prod`; after a warm-up, VmRSS and smaps_rollup are read every
// second over a steady window and each daemon counts as its median. The figure is the median of the per-pair
// differences (on minus off) with their spread, so one daemon's lucky or unlucky GC timing does not decide it.
// V8's heap in use comes from the daemon's own daemon_heap_used_bytes samples over the same window.
// BENCH_FLEET_PAIRS (default 4), BENCH_FLEET_WARMUP_S (20) and BENCH_FLEET_WINDOW_S (30) size the run.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { median } from './lib.mjs';

const { apiCall } = await import('../dist/api/index.js');

const REPO = join(import.meta.dirname, '..');
const PAIRS = Number(process.env.BENCH_FLEET_PAIRS ?? 4);
const WARMUP_S = Number(process.env.BENCH_FLEET_WARMUP_S ?? 20);
const WINDOW_S = Number(process.env.BENCH_FLEET_WINDOW_S ?? 30);
const MB = 1048576;
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
      // The bench's subscriber keeps its session (and subscription) across the broker's restart: nothing the
      // device sends while the subscriber reconnects is lost to the count.
      'persistence true',
      `persistence_location ${dir}/`,
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

function daemonRoot(base, name, fleet, pkiDir, port, device = 'dev-b') {
  const root = join(base, name);
  mkdirSync(join(root, 'etc/waveos'), { recursive: true });
  mkdirSync(join(root, 'var/lib/waveos/fleet'), { recursive: true });
  for (const [from, to] of [['dev-b.crt', 'tls.crt'], ['dev-b.key', 'tls.key'], ['ca.crt', 'ca.crt']]) writeFileSync(join(root, 'var/lib/waveos/fleet', to), readFileSync(join(pkiDir, from)));
  const fleetSection = fleet ? `fleet:\n  enabled: true\n  fleet: bench\n  broker: mqtts://127.0.0.1:${port}\n  events: { min_severity: info }\n  reconnect: { min: 200ms, max: 1s }\n` : '';
  writeFileSync(join(root, 'etc/waveos/waveos.yaml'), `schema_version: 2\ndevice:\n  device_id: ${device}\n${fleetSection}`);
  return root;
}

/** The environment the unit gives the daemon (Environment= lines of systemd/waveos.service). */
function unitEnv() {
  const out = {};
  for (const m of readFileSync(join(REPO, 'systemd/waveos.service'), 'utf8').matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)) out[m[1]] = m[2].replace(/^"|"$/g, '');
  return out;
}

function startDaemon(root, env) {
  const child = spawn(process.execPath, [join(REPO, 'bin/waveos.js'), 'run', '--root', root, '--profile', 'prod', '--log-format', 'json'], { stdio: 'ignore', env: { ...process.env, ...env } });
  child.exited = new Promise((r) => child.once('exit', r));
  return child;
}

async function stopDaemon(child) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await child.exited;
}

async function ready(root) {
  for (let i = 0; i < 300; i++) {
    const r = await apiCall({ socketPath: join(root, 'run/waveos/waveos-admin.sock'), timeoutMs: 2000 }, 'GET', '/v1/status').catch(() => undefined);
    if (r?.status === 200) return r.body;
    await sleep(100);
  }
  throw new Error(`daemon on ${root} did not start`);
}

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** VmRSS, and from smaps_rollup the anonymous part (heap, malloc) apart from the file-backed pages of node's binary. */
function memory(pid) {
  const kib = (text, key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: kib(status, 'VmRSS'), anon: kib(rollup, 'Anonymous'), pss: kib(rollup, 'Pss'), threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1]) };
}

/** Resident KiB by kind of mapping (/proc/<pid>/smaps): `[heap]` (malloc's main arena), unnamed anonymous (V8's heap, other malloc arenas, stacks), and files. */
function smapsByKind(pid) {
  const out = { brk: 0, anonMaps: 0, files: 0 };
  let kind = 'files';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) kind = head[1] === '[heap]' ? 'brk' : head[1] === '' ? 'anonMaps' : 'files';
    else if (line.startsWith('Rss:')) out[kind] += Number(/(\d+)/.exec(line)[1]) * 1024;
  }
  return out;
}

/**
 * One daemon on a fresh root: started, warmed up, sampled every second over the window, stopped. For the
 * link-on daemon, also waits until the link is connected and has sent its first status and events.
 */
async function measureDaemon(base, name, fleet, pkiDir, port, env) {
  const root = daemonRoot(base, name, fleet, pkiDir, port);
  const child = startDaemon(root, env);
  try {
    await ready(root);
    const sock = join(root, 'run/waveos/waveos-admin.sock');
    if (fleet) {
      for (let i = 0; ; i++) {
        const f = await apiCall({ socketPath: sock }, 'GET', '/v1/fleet');
        if (f.body.state === 'connected' && f.body.events.pending === 0) break;
        if (i > 300) throw new Error(`the link of ${name} did not connect: ${JSON.stringify(f.body)}`);
        await sleep(100);
      }
    }
    await sleep(WARMUP_S * 1000);
    const from = new Date().toISOString();
    const cpu0 = cpuSeconds(child.pid);
    const samples = [];
    for (let i = 0; i < WINDOW_S; i++) {
      samples.push(memory(child.pid));
      await sleep(1000);
    }
    const cpu1 = cpuSeconds(child.pid);
    const kinds = smapsByKind(child.pid);
    const series = async (metric) => {
      const h = await apiCall({ socketPath: sock }, 'GET', `/v1/metrics?since=${encodeURIComponent(from)}&name=${metric}`);
      return (h.body.history?.samples ?? []).map((x) => x.value);
    };
    const heap = await series('daemon_heap_used_bytes');
    const heapTotal = await series('daemon_heap_total_bytes');
    return {
      name,
      rss: median(samples.map((x) => x.rss)),
      rssMin: Math.min(...samples.map((x) => x.rss)),
      rssMax: Math.max(...samples.map((x) => x.rss)),
      anon: median(samples.map((x) => x.anon)),
      pss: median(samples.map((x) => x.pss)),
      heap: heap.length ? median(heap) : NaN,
      heapN: heap.length,
      heapTotal: heapTotal.length ? median(heapTotal) : NaN,
      ...kinds,
      threads: Math.max(...samples.map((x) => x.threads)),
      cpuPerMin: ((cpu1 - cpu0) * 60) / WINDOW_S,
    };
  } finally {
    await stopDaemon(child);
  }
}

const mb = (b) => (b / MB).toFixed(1);
const spread = (xs) => `${mb(Math.min(...xs))}..${mb(Math.max(...xs))}`;

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
  // Only the drain daemon's events (its own device id): the idle daemons before it publish theirs too.
  const seqs = new Set();
  c.on('message', (topic, payload) => {
    if (topic !== 'waveos/bench/dev-drain/events') return;
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
    const env = unitEnv();
    process.stderr.write(`fleet bench: ${PAIRS} A/B pairs, warm-up ${WARMUP_S} s, window ${WINDOW_S} s, env ${JSON.stringify(env)}\n`);
    const pairs = [];
    for (let p = 0; p < PAIRS; p++) {
      const off = await measureDaemon(base, `off-${p}`, false, pkiDir, port, env);
      const on = await measureDaemon(base, `on-${p}`, true, pkiDir, port, env);
      pairs.push({ off, on });
      for (const d of [off, on])
        process.stderr.write(`  ${d.name}: RSS median ${mb(d.rss)} MB (${mb(d.rssMin)}..${mb(d.rssMax)}), anon ${mb(d.anon)} MB, PSS ${mb(d.pss)} MB, heap used ${mb(d.heap)} / committed ${mb(d.heapTotal)} MB (${d.heapN} samples), at the end [heap] ${mb(d.brk)} MB, unnamed anonymous ${mb(d.anonMaps)} MB, files ${mb(d.files)} MB, ${d.threads} threads, CPU ${d.cpuPerMin.toFixed(3)} s/min\n`);
    }
    const diff = (k) => pairs.map(({ off, on }) => on[k] - off[k]);
    const offRss = median(pairs.map((x) => x.off.rss));
    const onRss = median(pairs.map((x) => x.on.rss));
    row('fleet link on: daemon RSS at idle (median of daemons)', mb(onRss), 'MB', mb(offRss), 'MB, link off', onRss / offRss, '');
    row(`fleet link: RSS added (median of ${PAIRS} pair diffs)`, mb(median(diff('rss'))), 'MB', spread(diff('rss')), 'MB, pair spread', undefined, '< 5 MB');
    row(`fleet link: anonymous memory added (smaps_rollup)`, mb(median(diff('anon'))), 'MB', spread(diff('anon')), 'MB, pair spread', undefined, '');
    row(`fleet link: V8 heap used added`, mb(median(diff('heap'))), 'MB', spread(diff('heap')), 'MB, pair spread', undefined, '');
    row(`fleet link: V8 heap committed added`, mb(median(diff('heapTotal'))), 'MB', spread(diff('heapTotal')), 'MB, pair spread', undefined, '');
    row(`fleet link: malloc [heap] added (end of window)`, mb(median(diff('brk'))), 'MB', spread(diff('brk')), 'MB, pair spread', undefined, '');
    row(`fleet link: unnamed anonymous maps added (end)`, mb(median(diff('anonMaps'))), 'MB', spread(diff('anonMaps')), 'MB, pair spread', undefined, '');
    row(`fleet link: file-backed pages added (end)`, mb(median(diff('files'))), 'MB', spread(diff('files')), 'MB, pair spread', undefined, '');
    const cpuOn = median(pairs.map((x) => x.on.cpuPerMin));
    const cpuOff = median(pairs.map((x) => x.off.cpuPerMin));
    row('fleet link on: CPU per minute at idle', cpuOn.toFixed(3), 's/min', cpuOff.toFixed(3), 's/min, link off', cpuOn / Math.max(cpuOff, 0.001), '');

    const onRoot = daemonRoot(base, 'drain', true, pkiDir, port, 'dev-drain');
    const drain = startDaemon(onRoot, env);
    procs.push(drain);
    await ready(onRoot);
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
    const missing = [...Array(last).keys()].map((i) => i + 1).filter((q) => !sub.seqs.has(q));
    if (missing.length) process.stderr.write(`fleet bench: ${missing.length} events never arrived (first: ${missing.slice(0, 5).join(', ')})\n`);
    row('fleet link: events drained to the broker after an outage', Math.round((sub.seqs.size - before) / s), 'events/s', sub.seqs.size - before, 'events in backlog', undefined, '');
    sub.c.end(true);
    broker.kill('SIGTERM');
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await sleep(1000);
    rmSync(base, { recursive: true, force: true });
  }
}
