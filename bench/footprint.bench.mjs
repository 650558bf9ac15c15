// Footprint figures (docs/footprint.md, "Bench"), side by side in one run: the daemon (dev profile, its five
// example services, 1 s sampling) against a bare `node -e 'setInterval(()=>{},1e3)'`, Debian's
// prometheus-node-exporter scraped once a second, and monit checking the same five processes every second.
//
// WAVEOS_FOOTPRINT_SECONDS (default 60) is how long everything idles before the steady figures are read; the
// figure the issue asks for is after 5 minutes: WAVEOS_FOOTPRINT_SECONDS=300 npm run bench -- footprint.
// WAVEOS_FOOTPRINT_TREE=DIR measures the daemon of another built tree (DIR/bin/waveos.js) with the same rig;
// WAVEOS_FOOTPRINT_JSON=FILE writes every figure and sample as JSON. The daemon gets the unit's Environment=
// lines (systemd/waveos.service) unless WAVEOS_FOOTPRINT_UNIT_ENV=0. Not a test: nothing passes or fails.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { median } from './lib.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const WINDOW_S = Number(process.env.WAVEOS_FOOTPRINT_SECONDS ?? 60);
const TREE = process.env.WAVEOS_FOOTPRINT_TREE ?? repo;
const WAVEOS = join(TREE, 'bin/waveos.js');
const MB = 1e6;
// The daemon runs with the environment the unit ships (systemd/waveos.service: NODE_OPTIONS, MALLOC_ARENA_MAX),
// so the figures are the shipped ones; WAVEOS_FOOTPRINT_UNIT_ENV=0 leaves it out.
const UNIT_ENV =
  process.env.WAVEOS_FOOTPRINT_UNIT_ENV === '0'
    ? {}
    : Object.fromEntries([...readFileSync(join(repo, 'systemd/waveos.service'), 'utf8').matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
const UNIT_ENV_TEXT = Object.entries(UNIT_ENV).map(([k, v]) => `${k}=${v}`).join(' ');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** VmRSS in bytes, or undefined once the process is gone. */
function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** utime + stime in clock ticks (100 per second on Linux). */
function cpuTicksOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return undefined;
  }
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function ensure(cmd, pkg) {
  if (have(cmd)) return true;
  const r = spawnSync('bash', [join(repo, 'scripts/ensure-debian-package.sh'), cmd, pkg], { encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(`footprint: ${pkg} not available: ${r.stderr.trim()}\n`);
  return r.status === 0;
}

function cli(root, args) {
  const r = spawnSync(process.execPath, [WAVEOS, ...args, '--root', root], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`waveos ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A signed 50 MB app bundle (the hello example plus incompressible bytes) and its key, trusted under root. */
function bigBundle(root, work) {
  const keys = join(work, 'keys');
  cli(root, ['bundle', 'keygen', '--out', keys]);
  const key = readdirSync(keys).find((f) => f.endsWith('.key'));
  mkdirSync(join(root, 'etc/waveos/keys'), { recursive: true });
  const pub = readdirSync(keys).find((f) => f.endsWith('.pub'));
  copyFileSync(join(keys, pub), join(root, 'etc/waveos/keys', pub));
  const dir = join(work, 'app-big');
  cpSync(join(repo, 'bundles/examples/app-hello'), dir, { recursive: true });
  const blob = Buffer.alloc(50 * 1024 * 1024);
  for (let i = 0; i < blob.length; i += 65536) blob.set(Buffer.from(execFileSync('head', ['-c', '65536', '/dev/urandom'])), i);
  writeFileSync(join(dir, 'etc/blob.bin'), blob);
  const out = join(work, 'big.wbundle');
  cli(root, ['bundle', 'build', dir, '--kind', 'app', '--name', 'big-app', '--run', './run.sh', '--health', './health.sh', '--trial', '300ms', '--version', '1.0.0', '--key', join(keys, key), '--out', out]);
  return out;
}

/** Starts the daemon with a NOTIFY_SOCKET of our own; resolves with its child and the ms from exec to READY=1. */
async function startDaemon(root, work) {
  const dgram = createRequire(join(repo, 'package.json'))('unix-dgram');
  const sockPath = join(work, 'notify.sock');
  const sock = dgram.createSocket('unix_dgram');
  let readyAt;
  const ready = new Promise((resolve) => {
    sock.on('message', (m) => {
      if (readyAt === undefined && /(^|\n)READY=1/.test(m.toString())) {
        readyAt = performance.now();
        resolve();
      }
    });
  });
  sock.bind(sockPath);
  const t0 = performance.now();
  const child = spawn(process.execPath, [WAVEOS, 'run', '--root', root, '--profile', 'dev'], {
    env: { ...process.env, ...UNIT_ENV, NOTIFY_SOCKET: sockPath },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.resume();
  await Promise.race([ready, sleep(30_000)]);
  return { child, readyMs: readyAt === undefined ? undefined : readyAt - t0, sock };
}

function scrape(port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', resolve);
    req.end();
  });
}

function startMonit(work, names) {
  const rc = join(work, 'monitrc');
  const checks = names.map((n) => `check process ${n} matching "hil-sim/services/${n}.mjs"\n`).join('');
  writeFileSync(rc, `set daemon 1\nset logfile ${join(work, 'monit.log')}\nset pidfile ${join(work, 'monit.pid')}\nset idfile ${join(work, 'monit.id')}\nset statefile ${join(work, 'monit.state')}\n${checks}`);
  chmodSync(rc, 0o600);
  return spawn('monit', ['-I', '-c', rc], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Wall time of a command, median of n runs. */
function wallMs(cmd, args, n = 5) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    spawnSync(cmd, args, { stdio: 'ignore' });
    xs.push(performance.now() - t);
  }
  return median(xs);
}

/** The daemon's peak RSS while an evidence pack of the last hour is exported and the big bundle installed. */
async function loadPeak(root, pid, bundle, work) {
  let peak = 0;
  let running = 2;
  const done = () => {
    running -= 1;
  };
  const run = (args) =>
    new Promise((resolve) => {
      const c = spawn(process.execPath, [WAVEOS, ...args, '--root', root], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      c.on('exit', (code) => resolve({ code, err: err.trim().slice(0, 300) }));
    }).finally(done);
  const t = performance.now();
  const jobs = Promise.all([run(['evidence', 'export', '--since', '1h', '--reason', 'footprint bench', '--out', join(work, 'pack.tar.gz')]), run(['bundle', 'install', bundle])]);
  while (running > 0) {
    peak = Math.max(peak, rssOf(pid) ?? 0);
    await sleep(50);
  }
  const results = await jobs;
  for (let i = 0; i < 20; i++) {
    peak = Math.max(peak, rssOf(pid) ?? 0);
    await sleep(50);
  }
  return { peak, ms: performance.now() - t, results };
}

/** Samples RSS and CPU of each process once a second for the window; node_exporter is scraped in the same loop. */
async function idle(procs, exporterPort) {
  const samples = Object.fromEntries(Object.keys(procs).map((k) => [k, []]));
  const start = performance.now();
  while (performance.now() - start < WINDOW_S * 1000) {
    if (exporterPort) void scrape(exporterPort);
    const t = (performance.now() - start) / 1000;
    for (const [k, pid] of Object.entries(procs)) samples[k].push({ t, rss: rssOf(pid), ticks: cpuTicksOf(pid) });
    await sleep(1000);
  }
  return samples;
}

/** Steady RSS: the median of the last third of the window (at most the last 60 s); CPU s per minute over it. */
function steady(xs) {
  const tail = xs.filter((s) => s.rss !== undefined && s.t >= Math.max(xs.at(-1).t - 60, (xs.at(-1).t * 2) / 3));
  if (tail.length < 2) return { rss: undefined, cpuPerMin: undefined, max: undefined };
  const cpuS = (tail.at(-1).ticks - tail[0].ticks) / 100;
  const minutes = (tail.at(-1).t - tail[0].t) / 60;
  return { rss: median(tail.map((s) => s.rss)), max: Math.max(...xs.filter((s) => s.rss).map((s) => s.rss)), cpuPerMin: cpuS / minutes };
}

export async function run(row) {
  const work = mkdtempSync(join(tmpdir(), 'bench-footprint-'));
  const root = join(work, 'root');
  const kids = [];
  try {
    const bundle = bigBundle(root, work);
    const daemon = await startDaemon(root, work);
    kids.push(daemon.child);
    const bare = spawn(process.execPath, ['-e', 'setInterval(()=>{},1e3)'], { stdio: 'ignore' });
    kids.push(bare);
    const procs = { daemon: daemon.child.pid, bare: bare.pid };
    let exporterPort;
    if (ensure('prometheus-node-exporter', 'prometheus-node-exporter')) {
      exporterPort = await freePort();
      const ne = spawn('prometheus-node-exporter', [`--web.listen-address=127.0.0.1:${exporterPort}`], { stdio: 'ignore' });
      kids.push(ne);
      procs.node_exporter = ne.pid;
    }
    const names = ['healthy', 'crasher', 'hang', 'leaker', 'flooder'];
    let monitWhy;
    if (ensure('monit', 'monit')) {
      const m = startMonit(work, names);
      let err = '';
      m.stderr.on('data', (d) => (err += d));
      kids.push(m);
      await sleep(1500);
      if (m.exitCode !== null) monitWhy = `monit exited ${m.exitCode}: ${err.trim()}`;
      else procs.monit = m.pid;
    } else monitWhy = 'monit could not be installed';
    const samples = await idle(procs, exporterPort);
    const s = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, steady(xs)]));
    const statusMs = wallMs(process.execPath, [WAVEOS, 'status', '--root', root]);
    const nodeMs = wallMs(process.execPath, ['-e', '']);
    const load = await loadPeak(root, daemon.child.pid, bundle, work);
    const d = s.daemon;
    const mb = (x) => (x === undefined ? '' : (x / MB).toFixed(1));
    const w = `after ${WINDOW_S} s`;
    row(`footprint: daemon steady RSS (${w})`, mb(d.rss), 'MB', mb(s.bare.rss), 'MB bare node', d.rss / s.bare.rss, '≤ 50 MB and ≤ 1.25× bare');
    if (s.node_exporter) row(`footprint: prometheus-node-exporter steady RSS (${w})`, mb(s.node_exporter.rss), 'MB', mb(d.rss), 'MB daemon', s.node_exporter.rss / d.rss, '');
    if (s.monit) row(`footprint: monit steady RSS (${w})`, mb(s.monit.rss), 'MB', mb(d.rss), 'MB daemon', s.monit.rss / d.rss, '');
    else row('footprint: monit', 'n/a', '', '', '', undefined, monitWhy ?? '');
    row('footprint: daemon max RSS while idling', mb(d.max), 'MB', mb(d.rss), 'MB steady', d.max / d.rss, '');
    row('footprint: daemon peak RSS, 1 h export + 50 MB install', mb(load.peak), 'MB', mb(d.rss), 'MB steady', load.peak / d.rss, '≤ steady + 40 MB');
    row('footprint: exec → READY=1', daemon.readyMs === undefined ? 'none' : daemon.readyMs.toFixed(0), 'ms', '', '', undefined, '≤ 250 ms');
    row('footprint: waveos status wall time', statusMs.toFixed(0), 'ms', nodeMs.toFixed(0), "ms node -e ''", statusMs / nodeMs, "≤ 2× node -e ''");
    if (s.node_exporter)
      row('footprint: daemon idle CPU', d.cpuPerMin.toFixed(2), 's/min', s.node_exporter.cpuPerMin.toFixed(2), 's/min node_exporter 1 s scrape', d.cpuPerMin / s.node_exporter.cpuPerMin, '≤ node_exporter');
    const failed = load.results.filter((r) => r.code !== 0);
    if (failed.length) process.stderr.write(`footprint: a load command failed: ${JSON.stringify(failed)}\n`);
    if (process.env.WAVEOS_FOOTPRINT_JSON)
      writeFileSync(process.env.WAVEOS_FOOTPRINT_JSON, JSON.stringify({ window_s: WINDOW_S, tree: TREE, unit_env: UNIT_ENV_TEXT, steady: s, readyMs: daemon.readyMs, statusMs, nodeMs, load, monitWhy, samples }, null, 1));
    daemon.sock.close();
  } finally {
    for (const k of kids) if (k.exitCode === null && k.signalCode === null) k.kill('SIGTERM');
    await sleep(2500);
    for (const k of kids) if (k.exitCode === null && k.signalCode === null) k.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}
