// `npm run bench -- fleet` (only when named: it takes minutes and 10,000 MQTT sessions): one Mosquitto, one
// PostgreSQL, one controller, WAVEOS_FLEET_BENCH_DEVICES (default 10,000) simulated devices in 4 processes
// speaking the real protocol with their own keys. Measures the time to inventory them all, a staged rollout to
// all of them in 4 waves (canary 1%, 10%, 50%, 100%) with each wave's decision delay after its last report, a
// second rollout whose bundle fails on 2% of devices halting as configured (--max-failures 1%), and the
// controller's RSS and CPU and the broker's RSS.
import { readFileSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { create as createTar } from 'tar';

const rig = await import(new URL('../dist/controller/fleet/rig.js', import.meta.url).href);

function procStats(pid) {
  try {
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return { rss, cpu: (Number(f[11]) + Number(f[12])) / 100 };
  } catch {
    return { rss: 0, cpu: 0 };
  }
}

async function bundle(dir, version) {
  const d = join(dir, `b-${version}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'manifest.json'), JSON.stringify({ schema_version: 2, name: 'sensor-app', version, kind: 'app' }));
  const file = join(dir, `sensor-app-${version}.wbundle`);
  await createTar({ file, cwd: d }, ['manifest.json']);
  return file;
}

function cli(env, args) {
  const r = rig.fleetCli([...args, '--json'], env);
  if (r.code !== 0) throw new Error(`waveos-fleet ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function rollout(ctx, version, extra) {
  const { env, ctl, db } = ctx;
  const t0 = Date.now();
  const r = cli(env, ['rollout', 'create', '--bundle', await bundle(ctx.dir, version), '--cohort', 'all', '--canary', '1%', '--waves', '10%,50%,100%', '--soak', '5s', '--public-url', `http://127.0.0.1:${ctl.port}`, ...extra]);
  // Polled in the database, not through the command: a command per poll would load the 2 cores it measures.
  await rig.until(`rollout ${r.rollout} to end`, async () => ['completed', 'halted'].includes((await db.query('SELECT state FROM fleet_rollouts WHERE id = $1', [r.rollout])).rows[0]?.state), 900_000);
  const done = cli(env, ['rollout', 'status', r.rollout]);
  await new Promise((r) => setTimeout(r, 1000)); // the simulators' last report lines
  const installs = ctx.sims.flatMap((s) => s.lines).filter((l) => l.version === version);
  const waveOf = new Map((await db.query('SELECT device_id, wave FROM fleet_rollout_devices WHERE rollout_id = $1', [r.rollout])).rows.map((x) => [x.device_id, x.wave]));
  const waves = [];
  for (const d of done.decisions.filter((x) => x.kind === 'wave_installed' || x.kind === 'halted')) {
    const w = d.numbers.wave;
    const mine = installs.filter((l) => waveOf.get(l.installed) === w && l.at <= Date.parse(d.at) + 5);
    if (mine.length === 0) process.stderr.write(`fleet bench: no report seen for wave ${w} before its decision\n`);
    const last = Math.max(...mine.map((l) => l.at));
    waves.push({ wave: w, kind: d.kind, size: d.numbers.size, applied: d.numbers.applied, failed: d.numbers.failed, decision_after_last_report_s: (Date.parse(d.at) - last) / 1000 });
  }
  return { id: r.rollout, state: done.state, seconds: (Date.now() - t0) / 1000, waves, decisions: done.decisions };
}

export async function run(row) {
  if (!process.argv.slice(2).includes('fleet')) return; // not part of the default bench run
  const N = Number(process.env.WAVEOS_FLEET_BENCH_DEVICES ?? 10_000);
  const PROCS = 4;
  const dir = mkdtempSync(join(tmpdir(), 'waveos-fleet-bench-'));
  const pgc = await rig.startPostgres(join(dir, 'pg'));
  const broker = await rig.startMosquitto(join(dir, 'mqtt'));
  const key = join(dir, 'fleet.key');
  const env = rig.fleetEnv(pgc, broker, 'bench', key, join(dir, 'store'));
  cli(env, ['key', 'new', '--out', key]);
  const pub = JSON.parse(readFileSync(`${key}.pub`, 'utf8'));
  const ctl = await rig.startController(env, 'ctl-bench');
  await ctl.ready;
  const db = new pg.Pool({ connectionString: pgc.url, max: 2 });
  const peak = { ctl: 0, broker: 0, sims: 0 };
  const sampler = setInterval(() => {
    peak.ctl = Math.max(peak.ctl, procStats(ctl.child.pid).rss);
    peak.broker = Math.max(peak.broker, procStats(broker.child.pid).rss);
    peak.sims = Math.max(peak.sims, ctx.sims.reduce((a, s) => a + procStats(s.child.pid).rss, 0));
  }, 500);
  const ctx = { env, ctl, db, dir, sims: [] };
  const common = { broker: broker.url, fleet: 'bench', prefix: 'd', fleetKeys: { [pub.key_id]: pub.public_key }, tags: ['bench'], bundle: 'sensor-app', initialVersion: '1.0.0', installMs: 2000, healthMs: 30_000, failShare: { '3.0.0': 0.02 }, healthOf: {}, baseHealth: 95, connectPerSecond: 250 }; // per process: Mosquitto's listen backlog is short, a faster burst drops SYNs and waits on TCP retransmits
  const per = Math.ceil(N / PROCS);
  const tFirst = Date.now();
  for (let p = 0; p < PROCS; p++) ctx.sims.push(rig.startSims({ ...common, from: p * per, count: Math.min(per, N - p * per) }));
  await rig.until('all devices in the inventory', async () => Number((await db.query('SELECT COUNT(*) AS n FROM fleet_devices WHERE status IS NOT NULL')).rows[0].n) >= N, 600_000);
  const inventoryS = (Date.now() - tFirst) / 1000;
  await Promise.all(ctx.sims.map((s) => s.ready));
  const connectedS = (Date.now() - tFirst) / 1000;
  // Inventory from the retained statuses alone: a second controller started now sees every device at once.
  const t2 = Date.now();
  const ctl2 = await rig.startController(env, 'ctl-retained');
  await ctl2.ready;
  await rig.until('the second controller to have ingested all retained statuses', async () => {
    const t = await (await globalThis.fetch(`http://127.0.0.1:${ctl2.port}/metrics`)).text();
    return Number(/waveos_fleet_ingest_messages_total\{outcome="accepted"\} (\d+)/.exec(t)?.[1] ?? 0) >= N;
  }, 300_000);
  const retainedS = (Date.now() - t2) / 1000;
  const ctl2Rss = procStats(ctl2.child.pid).rss;
  ctl2.child.kill('SIGTERM');
  const cpu0 = procStats(ctl.child.pid).cpu;
  const idle0 = Date.now();
  await new Promise((r) => setTimeout(r, 30_000));
  const idleCpuPct = ((procStats(ctl.child.pid).cpu - cpu0) / ((Date.now() - idle0) / 1000)) * 100;
  const idleRss = procStats(ctl.child.pid).rss;
  const good = await rollout(ctx, '2.0.0', ['--max-failures', '2%']);
  const bad = await rollout(ctx, '3.0.0', ['--max-failures', '1%']);
  clearInterval(sampler);
  const total = procStats(ctl.child.pid);
  const metrics = await (await globalThis.fetch(`http://127.0.0.1:${ctl.port}/metrics`)).text();
  process.stderr.write(`${JSON.stringify({ N, inventoryS, connectedS, idleCpuPct, idleRss, good: { ...good, decisions: undefined }, bad: { ...bad, decisions: bad.decisions.map((d) => `${d.kind}: ${d.reason}`) }, peak, ctlCpuTotal: total.cpu }, null, 1)}\n`);
  process.stderr.write(`${metrics.split('\n').filter((l) => /^waveos_fleet_(devices|link_lag|ingest)/.test(l)).join('\n')}\n`);
  row(`fleet: inventory of ${N} devices after their first status`, inventoryS.toFixed(1), 's', '', '', undefined, '< 30 s');
  row(`fleet: a controller started with ${N} retained statuses: all ingested`, retainedS.toFixed(1), 's', '', '', undefined, '< 30 s');
  row('fleet: that controller RSS after ingesting them', (ctl2Rss / 1048576).toFixed(0), 'MB', '', '', undefined, '< 200 MB');
  row(`fleet: all ${N} sessions connected`, connectedS.toFixed(1), 's', '', '', undefined, '');
  for (const w of good.waves) row(`fleet: good rollout wave ${w.wave} (${w.size} dev) decision after last report`, w.decision_after_last_report_s.toFixed(1), 's', '', '', undefined, '< 10 s');
  row(`fleet: good rollout to ${N} in ${good.waves.length} waves (soak 5 s each)`, good.seconds.toFixed(0), 's', '', '', undefined, good.state);
  for (const w of bad.waves.filter((x) => x.kind === 'halted')) row(`fleet: 2% failing bundle halted at wave ${w.wave} (${w.failed}/${w.size} failed), after last report`, w.decision_after_last_report_s.toFixed(1), 's', '', '', undefined, '< 10 s');
  row('fleet: controller RSS peak', (peak.ctl / 1048576).toFixed(0), 'MB', '', '', undefined, '< 200 MB');
  row('fleet: controller RSS idle with all devices', (idleRss / 1048576).toFixed(0), 'MB', '', '', undefined, '');
  row('fleet: controller CPU idle (health every 30 s)', idleCpuPct.toFixed(1), '% of a core', '', '', undefined, '');
  row('fleet: controller CPU total for the run', total.cpu.toFixed(1), 's', '', '', undefined, '');
  row('fleet: broker RSS peak', (peak.broker / 1048576).toFixed(0), 'MB', '', '', undefined, '');
  row(`fleet: simulators RSS peak (${PROCS} processes)`, (peak.sims / 1048576).toFixed(0), 'MB', '', '', undefined, '');
  writeFileSync(join(dir, 'controller.log'), ctl.log());
  process.stderr.write(`fleet bench: controller log in ${join(dir, 'controller.log')}\n`);
  await db.end();
  for (const s of ctx.sims) s.child.kill('SIGKILL');
  ctl.child.kill('SIGKILL');
  await broker.stop();
  pgc.stop();
}
