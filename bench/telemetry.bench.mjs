// Telemetry footprint: the daemon idling on the dev profile (1 s sampling) against prometheus-node-exporter
// scraped once a second and monit with a 1 s cycle checking the system and five processes, all side by
// side over the same period. CPU = utime + stime (+ children's) from /proc; RSS = peak (VmHWM).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SECONDS = Number(process.env.BENCH_TELEMETRY_S ?? 60);
const WARMUP_S = 5;
const HZ = 100;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function ensurePackages() {
  if (has('prometheus-node-exporter') && has('monit')) return true;
  process.stderr.write('bench telemetry: installing prometheus-node-exporter and monit with apt-get\n');
  const r = spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-node-exporter monit'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return r.status === 0 && has('prometheus-node-exporter') && has('monit');
}

function cpuTicks(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // fields 14-17: utime stime cutime cstime (f[0] is field 3)
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

function peakRssMb(pid) {
  const m = /^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m ? Number(m[1]) / 1024 : NaN;
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

/** GET a URL; resolves with the body length, or -1 on any failure. */
function scrape(url) {
  return new Promise((resolve) => {
    const req = get(url, { timeout: 2_000 }, (res) => {
      let n = 0;
      res.on('data', (c) => (n += c.length));
      res.on('end', () => resolve(res.statusCode === 200 ? n : -1));
    });
    req.on('error', () => resolve(-1));
    req.on('timeout', () => req.destroy());
  });
}

async function waitFor(what, fn, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(100);
  }
  throw new Error(`bench telemetry: timed out waiting for ${what}`);
}

function daemon(dir, name, telemetryYaml) {
  const root = join(dir, name);
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(cfg, `schema_version: 2\ntelemetry:\n  sample_interval: 1s\n${telemetryYaml}`);
  const p = spawn(process.execPath, ['bin/waveos.js', 'run', '--root', root, '--profile', 'dev', '--config', cfg, '--log-format', 'json'], { stdio: 'ignore' });
  return { p, ready: () => waitFor(`${name} daemon`, () => spawnSync(process.execPath, ['bin/waveos.js', 'status', '--root', root]).status === 0) };
}

export async function run(row) {
  if (!ensurePackages()) {
    row('telemetry footprint: prometheus-node-exporter or monit missing', 'n/a', '', null, null, null, 'apt-get install prometheus-node-exporter monit');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-telemetry-'));
  const procs = [];
  try {
    // Five stand-in processes for monit to check (the example services are not part of the daemon yet).
    const pids = [];
    for (let i = 0; i < 5; i++) {
      const s = spawn('sleep', ['3600'], { stdio: 'ignore' });
      procs.push(s);
      pids.push(s.pid);
      writeFileSync(join(dir, `p${i}.pid`), `${s.pid}\n`);
    }
    const monitrc = join(dir, 'monitrc');
    writeFileSync(
      monitrc,
      [
        'set daemon 1',
        `set pidfile ${dir}/monit.pid`,
        `set idfile ${dir}/monit.id`,
        `set statefile ${dir}/monit.state`,
        `set logfile ${dir}/monit.log`,
        'check system bench',
        '  if loadavg (1min) > 1000 then alert',
        '  if memory usage > 99% then alert',
        '  if cpu usage > 99% for 5 cycles then alert',
        ...pids.flatMap((_, i) => [`check process p${i} with pidfile ${dir}/p${i}.pid`, '  if cpu > 99% then alert', '  if totalmem > 1000 MB then alert']),
        '',
      ].join('\n'),
    );
    chmodSync(monitrc, 0o600);

    const port = await freePort();
    const exporter = spawn('prometheus-node-exporter', [`--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    const monit = spawn('monit', ['-I', '-c', monitrc], { stdio: 'ignore' });
    // Port 0: the dev profile's endpoint is on, on a free port (a fixed one may be taken by another daemon).
    const waveos = daemon(dir, 'waveos', '  prometheus: {port: 0}\n');
    // The same daemon with every collector off: what telemetry itself adds on top of the daemon.
    const off = ['cpu', 'load', 'memory', 'pressure', 'self', 'services', 'filesystem', 'diskstats', 'net', 'temperature', 'queues', 'events', 'health'];
    const bare = daemon(dir, 'bare', `  prometheus: {enabled: false}\n  collectors: {${off.map((c) => `${c}: false`).join(', ')}}\n`);
    procs.push(exporter, monit, waveos.p, bare.p);
    await Promise.all([waveos.ready(), bare.ready()]);
    await waitFor('node_exporter', async () => (await scrape(`http://127.0.0.1:${port}/metrics`)) > 0);

    let scrapes = 0;
    let scraping = true;
    const scraper = (async () => {
      while (scraping) {
        const t = Date.now();
        if ((await scrape(`http://127.0.0.1:${port}/metrics`)) > 0) scrapes++;
        await sleep(Math.max(0, 1000 - (Date.now() - t)));
      }
    })();

    await sleep(WARMUP_S * 1000);
    const who = { waveos: waveos.p.pid, bare: bare.p.pid, exporter: exporter.pid, monit: monit.pid };
    const t0 = Object.fromEntries(Object.entries(who).map(([k, pid]) => [k, cpuTicks(pid)]));
    process.stderr.write(`bench telemetry: measuring ${SECONDS} s side by side\n`);
    await sleep(SECONDS * 1000);
    const cpu = Object.fromEntries(Object.entries(who).map(([k, pid]) => [k, (cpuTicks(pid) - t0[k]) / HZ]));
    const rss = Object.fromEntries(Object.entries(who).map(([k, pid]) => [k, peakRssMb(pid)]));
    scraping = false;
    await scraper;

    const per = (s) => Number(s.toFixed(2));
    const label = `dev profile, 1 s sampling, ${SECONDS} s idle, no example services yet`;
    row(`telemetry: WaveOS daemon CPU (${label})`, per(cpu.waveos), 's', per(cpu.monit), 's monit (1 s cycle)', cpu.waveos / cpu.monit, '≤ monit');
    row('telemetry: WaveOS daemon CPU vs node_exporter', per(cpu.waveos), 's', per(cpu.exporter), `s node_exporter (${scrapes} scrapes)`, cpu.waveos / cpu.exporter, 'well under 1');
    row('telemetry: WaveOS CPU with every collector off', per(cpu.bare), 's', per(cpu.waveos), 's with telemetry', cpu.bare / cpu.waveos, '');
    row('telemetry: WaveOS daemon peak RSS', Number(rss.waveos.toFixed(1)), 'MB', Number(rss.monit.toFixed(1)), 'MB monit', rss.waveos / rss.monit, '< 60 MB');
    row('telemetry: WaveOS peak RSS vs node_exporter', Number(rss.waveos.toFixed(1)), 'MB', Number(rss.exporter.toFixed(1)), 'MB node_exporter', rss.waveos / rss.exporter, '');
    row('telemetry: WaveOS peak RSS with every collector off', Number(rss.bare.toFixed(1)), 'MB', Number(rss.waveos.toFixed(1)), 'MB with telemetry', rss.bare / rss.waveos, '');
  } finally {
    for (const p of procs.reverse()) {
      try {
        p.kill('SIGTERM');
      } catch {
        // already gone
      }
    }
    await sleep(1500);
    for (const p of procs) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
