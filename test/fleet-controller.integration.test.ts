/*
 * The fleet controller end to end: real Mosquitto, real PostgreSQL (both started here), two real
 * `waveos-fleet serve` controllers, and devices simulated in two processes that speak the real protocol with
 * their own keys (the scale bench's simulator). Scenarios run in order on one fleet: inventory, a good bundle
 * with a device offline and the leader killed mid-wave, the broker restarted mid-rollout, a bad bundle halted
 * and rolled back at the canary, a health regression halted at the canary.
 */
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { create as createTar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Broker, type Controller, type Pg, type Sims, fleetCli, fleetEnv, startController, startMosquitto, startPostgres, startSims, until,
} from '../fleet/rig.js';

const FLEET = 'e2e';
const N = 8;
let dir: string;
let pgc: Pg;
let broker: Broker;
let env: NodeJS.ProcessEnv;
let db: pg.Pool;
const controllers: Controller[] = [];
const sims: Sims[] = [];
const ids = Array.from({ length: N }, (_, i) => `dev-${String(i).padStart(5, '0')}`);

function json<T>(args: string[]): T {
  const r = fleetCli([...args, '--json'], env);
  if (r.code !== 0) throw new Error(`waveos-fleet ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function bundle(version: string): Promise<string> {
  const d = join(dir, `bundle-${version}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'manifest.json'), JSON.stringify({ schema_version: 2, name: 'sensor-app', version, kind: 'app' }));
  const file = join(dir, `sensor-app-${version}.wbundle`);
  await createTar({ file, cwd: d }, ['manifest.json']);
  return file;
}

interface Status {
  state: string;
  wave: number;
  phase: string;
  devices_on_new_version: number;
  decisions: { n: number; kind: string; reason: string; controller: string; numbers: Record<string, unknown> }[];
}

const status = (id: string): Status => json<Status>(['rollout', 'status', id]);
const versions = async (): Promise<Record<string, string>> => {
  const r = await db.query<{ device_id: string; v: string }>("SELECT device_id, bundles -> 'sensor-app' ->> 'version' AS v FROM fleet_devices WHERE fleet = $1", [FLEET]);
  return Object.fromEntries(r.rows.map((x) => [x.device_id, x.v]));
};

function createRollout(version: string, file: string, extra: string[] = []): string {
  const r = json<{ rollout: string }>(['rollout', 'create', '--bundle', file, '--cohort', 'all', '--canary', '1', '--waves', '50%,100%', '--max-failures', '20%', '--min-health-delta', '-10', '--soak', '2s', '--offline-after', '4s', '--public-url', `http://127.0.0.1:${controllers[0]?.port}`, ...extra]);
  expect(version).toBeTruthy();
  return r.rollout;
}

/** Decisions are numbered 1, 2, 3… with no gap or repeat, and each wave starts once. */
function checkDecisions(s: Status): void {
  expect(s.decisions.map((d) => d.n)).toEqual(s.decisions.map((_, i) => i + 1));
  const started = s.decisions.filter((d) => d.kind === 'wave_started').map((d) => d.numbers.wave);
  expect(new Set(started).size).toBe(started.length);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'waveos-fleetctl-'));
  chmodSync(dir, 0o755);
  pgc = await startPostgres(join(dir, 'pg'));
  broker = await startMosquitto(join(dir, 'mqtt'));
  const key = join(dir, 'fleet.key');
  env = fleetEnv(pgc, broker, FLEET, key, join(dir, 'store'));
  const k = fleetCli(['key', 'new', '--out', key, '--json'], env);
  expect(k.code, k.stderr).toBe(0);
  const pub = JSON.parse(readFileSync(`${key}.pub`, 'utf8')) as { key_id: string; public_key: string };
  for (const id of ['ctl-a', 'ctl-b']) controllers.push(await startController(env, id, ['--tick', '500']));
  await Promise.all(controllers.map((c) => c.ready));
  const common = { broker: broker.url, fleet: FLEET, prefix: 'dev-', fleetKeys: { [pub.key_id]: pub.public_key }, tags: ['site-a'], extraTags: [{ every: 2, tag: 'even' }], bundle: 'sensor-app', initialVersion: '1.0.0', installMs: 600, healthMs: 500, failShare: { '4.0.0': 1 }, healthOf: { '5.0.0': 50 }, baseHealth: 95, connectPerSecond: 100 };
  sims.push(startSims({ ...common, from: 0, count: N / 2 }), startSims({ ...common, from: N / 2, count: N / 2 }));
  await Promise.all(sims.map((s) => s.ready));
  db = new pg.Pool({ connectionString: pgc.url, max: 2 });
}, 120_000);

afterAll(async () => {
  await db?.end();
  for (const s of sims) s.child.kill('SIGKILL');
  for (const c of controllers) c.child.kill('SIGKILL');
  await broker?.stop();
  pgc?.stop();
});

describe('fleet controller, end to end', () => {
  it('keeps an inventory of every device from its signed retained status, filtered by tags', async () => {
    const all = await until('all devices in the inventory', () => {
      const d = json<{ device: string }[]>(['devices']);
      return d.length === N && d;
    });
    expect(all.map((d) => d.device)).toEqual(ids);
    const even = json<{ device: string; tags: string[] }[]>(['devices', '--where', 'tag=even']);
    expect(even.map((d) => d.device)).toEqual(ids.filter((_, i) => i % 2 === 0));
    const one = json<{ device: string; health: number; bundles: Record<string, { version: string }> }>(['device', 'dev-00003']);
    expect(one.health).toBe(95);
    expect(one.bundles['sensor-app']?.version).toBe('1.0.0');
    const res = await fetch(`http://127.0.0.1:${controllers[0]?.port}/metrics`);
    const text = await res.text();
    expect(text).toContain(`waveos_fleet_devices{version="0.1.0"} ${N}`);
    expect(text).toContain(`waveos_fleet_devices_by_health{bucket="90-100"} ${N}`);
    const cohort = json<{ members: string[] }>(['cohort', 'create', 'evens', '--where', 'tag=even']);
    expect(cohort.members).toHaveLength(N / 2);
    const bad = fleetCli(['devices', '--where', 'colour=red'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--where "colour=red"');
  });

  it('rolls a good bundle through canary and waves to all; the leader killed mid-wave is replaced; an offline device catches up', async () => {
    const id = createRollout('2.0.0', await bundle('2.0.0'));
    await until('the canary installed', () => status(id).decisions.some((d) => d.kind === 'wave_installed'));
    // Take one device of the last wave offline: its wave must not wait for it.
    const last = await db.query<{ device_id: string }>('SELECT device_id FROM fleet_rollout_devices WHERE rollout_id = $1 AND wave = 2 ORDER BY device_id LIMIT 1', [id]);
    const away = last.rows[0]?.device_id as string;
    for (const s of sims) s.send('offline', [away]);
    // Mid-wave 1: kill whichever controller leads.
    const started = await until('wave 1 started', () => status(id).decisions.find((d) => d.kind === 'wave_started' && d.numbers.wave === 1));
    const leader = controllers.find((c) => c.id === started.controller) as Controller;
    leader.child.kill('SIGKILL');
    const done = await until('the rollout completed', () => {
      const s = status(id);
      return s.state === 'completed' && s;
    }, 90_000);
    checkDecisions(done);
    const by = new Set(done.decisions.filter((d) => d.controller.startsWith('ctl-')).map((d) => d.controller));
    expect(by.size).toBe(2); // both controllers decided: the second took over
    const installed = done.decisions.find((d) => d.kind === 'wave_installed' && d.numbers.wave === 2);
    expect(installed?.numbers.offline).toBe(1);
    const v = await versions();
    expect(Object.entries(v).filter(([d, x]) => d !== away && x !== '2.0.0')).toEqual([]);
    expect(v[away]).toBe('1.0.0');
    for (const s of sims) s.send('online', [away]);
    await until('the offline device caught up', async () => (await versions())[away] === '2.0.0');
    // The killed controller comes back for the rest of the tests.
    const again = await startController(env, leader.id, ['--tick', '500']);
    await again.ready;
    controllers[controllers.indexOf(leader)] = again;
  }, 180_000);

  it('loses no decision when the broker restarts mid-rollout', async () => {
    const id = createRollout('3.0.0', await bundle('3.0.0'));
    await until('the canary installed', () => status(id).decisions.some((d) => d.kind === 'wave_installed'));
    await broker.stop();
    await new Promise((r) => setTimeout(r, 1500));
    await broker.start();
    const done = await until('the rollout completed', () => {
      const s = status(id);
      return s.state === 'completed' && s;
    }, 120_000);
    checkDecisions(done);
    expect(done.decisions.map((d) => d.kind)).toEqual(['created', 'wave_started', 'wave_installed', 'wave_passed', 'wave_started', 'wave_installed', 'wave_passed', 'wave_started', 'wave_installed', 'completed']);
    expect(Object.values(await versions()).every((x) => x === '3.0.0')).toBe(true);
  }, 180_000);

  it('halts a bad bundle at the canary, rolls it back there, and never sends it to the others', async () => {
    const id = createRollout('4.0.0', await bundle('4.0.0'));
    const s = await until('the rollout halted', () => {
      const x = status(id);
      return x.state === 'halted' && x.decisions.some((d) => d.kind === 'rolled_back') && x;
    });
    checkDecisions(s);
    const halt = s.decisions.find((d) => d.kind === 'halted');
    expect(halt?.numbers).toMatchObject({ wave: 0, size: 1, failed: 1 });
    expect(halt?.reason).toMatch(/canary: 1 of 1 devices failed/);
    const sent = await db.query<{ device_id: string; wave: number }>("SELECT device_id, wave FROM fleet_rollout_devices WHERE rollout_id = $1 AND state <> 'pending'", [id]);
    expect(sent.rows).toHaveLength(1);
    expect(sent.rows[0]?.wave).toBe(0);
    const docs = await db.query<{ device_id: string; v: string }>("SELECT device_id, body -> 'bundles' -> 'sensor-app' ->> 'version' AS v FROM fleet_desired WHERE fleet = $1", [FLEET]);
    expect(docs.rows.filter((r) => r.v !== '3.0.0')).toEqual([]); // the canary is back on 3.0.0, nobody else ever had 4.0.0
    expect(sims.flatMap((x) => x.lines).filter((l) => l.version === '4.0.0').map((l) => l.installed)).toEqual([sent.rows[0]?.device_id]);
    expect(Object.values(await versions()).every((x) => x === '3.0.0')).toBe(true);
    fleetCli(['rollout', 'abort', id, '--reason', 'bad bundle'], env);
  }, 120_000);

  it('halts on a health regression against the control group and puts the canary back', async () => {
    const id = createRollout('5.0.0', await bundle('5.0.0'), ['--soak', '10s']);
    const s = await until('the rollout halted', () => {
      const x = status(id);
      return x.state === 'halted' && x;
    });
    const halt = s.decisions.find((d) => d.kind === 'halted');
    expect(halt?.numbers).toMatchObject({ wave: 0, health_wave: 50, health_control: 95, health_delta: -45, health_against: 'control' });
    const canary = (await db.query<{ device_id: string }>('SELECT device_id FROM fleet_rollout_devices WHERE rollout_id = $1 AND wave = 0', [id])).rows[0]?.device_id as string;
    await until('the canary is back on 3.0.0', async () => (await versions())[canary] === '3.0.0');
    const metrics = await (await fetch(`http://127.0.0.1:${controllers[1]?.port}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`waveos_fleet_rollout_wave\\{rollout="${id}",state="halted"\\} 0`));
  }, 120_000);

  it('pulls an evidence pack into the store, refuses a signing key others can read', async () => {
    const r = json<{ state: string; file: string; bytes: number }>(['evidence', 'pull', 'dev-00001', '--public-url', `http://127.0.0.1:${controllers[0]?.port}`, '--wait', '30s']);
    expect(r.state).toBe('stored');
    expect(readFileSync(r.file, 'utf8')).toContain('simulated evidence of dev-00001');
    const loose = join(dir, 'loose.key');
    writeFileSync(loose, readFileSync(env.WAVEOS_FLEET_KEY as string), { mode: 0o644 });
    chmodSync(loose, 0o644);
    const c = await startController({ ...env, WAVEOS_FLEET_KEY: loose }, 'ctl-loose');
    await expect(c.ready).rejects.toThrow(/WAVEOS_E_FLEET_KEY_MODE/);
  });
});
