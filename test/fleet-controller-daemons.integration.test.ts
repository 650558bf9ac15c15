/*
 * The fleet controller with real WaveOS daemons as devices: 5 daemons (bin/waveos.js run, their fleet link on)
 * on a real Mosquitto with TLS, client certificates and the protocol's ACL, a real PostgreSQL, two real
 * controllers. A good signed bundle rolls through the canary and two waves to all five (each device's
 * health-gated trial commits it); a bad one (its service exits: the trial fails and the device rolls itself
 * back) halts at the canary, the canary is sent its last good desired state, and no other device is sent it.
 * Then a rollout with a daemon stopped (it catches up when started again), the broker restarted after the
 * canary and the leading controller killed mid-wave.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Controller, type Pg, fleetCli, startController, startPostgres, until } from '../fleet/rig.js';
import { Broker, type Pki, ensurePackage, fleetDaemonConfig, freePort, makePki, provisionFleetRoot } from './helpers/fleet-rig.js';
import { type TestKey, appDir, buildApp, makeKey, trustKey } from './helpers/bundles.js';
import { DaemonProcess, removeRoot, tempRoot } from './helpers/daemon.js';

const FLEET = 'acme';
const NAMES = ['dev-1', 'dev-2', 'dev-3', 'dev-4', 'dev-5'];
let base: string;
let pki: Pki;
let broker: Broker;
let pgc: Pg;
let env: NodeJS.ProcessEnv;
let db: pg.Pool;
let bundleKey: TestKey;
const daemons: DaemonProcess[] = [];
const controllers: Controller[] = [];

function json<T>(args: string[]): T {
  const r = fleetCli([...args, '--json'], env);
  if (r.code !== 0) throw new Error(`waveos-fleet ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function startDevice(name: string, fleetPub: string, keyId: string): Promise<void> {
  const root = tempRoot(`waveos-fleetctl-${name}-`);
  provisionFleetRoot(root, pki, name, { keyId, pubFileText: readFileSync(fleetPub, 'utf8') });
  trustKey(root, bundleKey);
  writeFileSync(join(root, 'etc/waveos/waveos.yaml'), fleetDaemonConfig({ device: name, fleet: FLEET, brokerPort: broker.port, cohorts: ['site-a'] }));
  const d = new DaemonProcess(root);
  daemons.push(d);
  await d.ready();
}

interface Status {
  state: string;
  decisions: { n: number; kind: string; reason: string; controller: string; numbers: Record<string, unknown> }[];
}

const versions = async (): Promise<Record<string, string | null>> => {
  const r = await db.query<{ device_id: string; v: string | null; s: string | null }>("SELECT device_id, bundles -> 'demo' ->> 'version' AS v FROM fleet_devices WHERE fleet = $1", [FLEET]);
  return Object.fromEntries(r.rows.map((x) => [x.device_id, x.v]));
};

async function rollout(version: string, broken: boolean, extra: string[] = []): Promise<string> {
  const file = join(base, `demo-${version}.wbundle`);
  await buildApp(bundleKey, appDir(join(base, 'apps'), 'demo', version, { broken }), file, version, { trialMs: 1000 });
  const r = json<{ rollout: string }>(['rollout', 'create', '--bundle', file, '--cohort', 'all', '--canary', '1', '--waves', '50%,100%', '--max-failures', '2%', '--min-health-delta', '-50', '--soak', '3s', '--offline-after', '20s', '--public-url', `http://127.0.0.1:${controllers[0]?.port}`, ...extra]);
  return r.rollout;
}

beforeAll(async () => {
  ensurePackage('mosquitto', 'mosquitto');
  base = tempRoot('waveos-fleetctl-daemons-');
  pki = makePki(join(base, 'pki'));
  broker = new Broker(join(base, 'broker'), await freePort(), pki, FLEET);
  await broker.start();
  pgc = await startPostgres(join(base, 'pg'));
  const key = join(base, 'fleet.key');
  const ctlCert = pki.client('controller');
  env = { WAVEOS_FLEET_DB: pgc.url, WAVEOS_FLEET_BROKER: `mqtts://127.0.0.1:${broker.port}`, WAVEOS_FLEET_BROKER_CA: pki.ca, WAVEOS_FLEET_BROKER_CERT: ctlCert.cert, WAVEOS_FLEET_BROKER_KEY: ctlCert.key, WAVEOS_FLEET_ID: FLEET, WAVEOS_FLEET_KEY: key, WAVEOS_FLEET_STORE: join(base, 'store') };
  expect(fleetCli(['key', 'new', '--out', key], env).code).toBe(0);
  const keyId = (JSON.parse(readFileSync(`${key}.pub`, 'utf8')) as { key_id: string }).key_id;
  for (const id of ['ctl-a', 'ctl-b']) controllers.push(await startController(env, id, ['--tick', '500']));
  await Promise.all(controllers.map((c) => c.ready));
  bundleKey = makeKey(join(base, 'bundle-key'));
  for (const n of NAMES) await startDevice(n, `${key}.pub`, keyId);
  db = new pg.Pool({ connectionString: pgc.url, max: 2 });
}, 240_000);

afterAll(async () => {
  await db?.end();
  for (const d of daemons) if (!d.exited) await d.kill('SIGTERM');
  for (const c of controllers) c.child.kill('SIGKILL');
  await broker?.stop();
  pgc?.stop();
  if (base) removeRoot(base);
});

describe('fleet controller with real WaveOS daemons', () => {
  it('inventories the five daemons from their signed retained status', async () => {
    const all = await until('five devices', () => {
      const d = json<{ device: string; tags: string[]; waveos: string }[]>(['devices', '--where', 'tag=site-a']);
      return d.length === NAMES.length && d;
    });
    expect(all.map((d) => d.device)).toEqual(NAMES);
  });

  it('rolls a good bundle through the canary and waves to all five, each committed by its health-gated trial', async () => {
    const id = await rollout('1.0.0', false);
    const s = await until('the rollout completed', () => {
      const x = json<Status>(['rollout', 'status', id]);
      return (x.state === 'completed' || x.state === 'halted') && x;
    }, 240_000);
    expect(s.state, JSON.stringify(s.decisions.map((d) => d.reason))).toBe('completed');
    expect(s.decisions.filter((d) => d.kind === 'wave_started').map((d) => d.numbers.size)).toEqual([1, 2, 2]);
    expect(Object.values(await versions())).toEqual(NAMES.map(() => '1.0.0'));
  }, 300_000);

  it('halts a bad bundle at the canary, rolls the canary back, and never sends it to the others', async () => {
    const id = await rollout('2.0.0', true);
    const s = await until('the rollout halted', () => {
      const x = json<Status>(['rollout', 'status', id]);
      return x.state !== 'running' && x.decisions.some((d) => d.kind === 'rolled_back') && x;
    }, 180_000);
    expect(s.state).toBe('halted');
    expect(s.decisions.find((d) => d.kind === 'halted')?.numbers).toMatchObject({ wave: 0, size: 1, failed: 1 });
    const canary = (await db.query<{ device_id: string }>('SELECT device_id FROM fleet_rollout_devices WHERE rollout_id = $1 AND wave = 0', [id])).rows[0]?.device_id as string;
    const docs = await db.query<{ device_id: string; v: string }>("SELECT device_id, body -> 'bundles' -> 'demo' ->> 'version' AS v FROM fleet_desired WHERE fleet = $1", [FLEET]);
    expect(docs.rows.filter((r) => r.v !== '1.0.0')).toEqual([]);
    // The canary reports the last good desired state applied, still on 1.0.0.
    await until('the canary applied its last good state', async () => {
      const r = await db.query<{ desired_state: string; desired_seq: string; v: string }>("SELECT desired_state, desired_seq, bundles -> 'demo' ->> 'version' AS v FROM fleet_devices WHERE fleet = $1 AND device_id = $2", [FLEET, canary]);
      const sent = await db.query<{ seq: string }>('SELECT seq FROM fleet_desired WHERE fleet = $1 AND device_id = $2', [FLEET, canary]);
      const row = r.rows[0];
      return row && row.desired_state === 'applied' && row.desired_seq === sent.rows[0]?.seq && row.v === '1.0.0';
    }, 120_000);
    expect(Object.values(await versions())).toEqual(NAMES.map(() => '1.0.0'));
  }, 240_000);

  it('finishes with a daemon stopped, the broker restarted and the leader killed mid-wave; the stopped daemon catches up', async () => {
    const id = await rollout('3.0.0', false, ['--offline-after', '8s']);
    const last = (await db.query<{ device_id: string }>('SELECT device_id FROM fleet_rollout_devices WHERE rollout_id = $1 AND wave = 2 ORDER BY device_id LIMIT 1', [id])).rows[0]?.device_id as string;
    const k = NAMES.indexOf(last);
    const away = daemons[k] as DaemonProcess;
    await away.kill('SIGTERM');
    await until('the canary installed', () => json<Status>(['rollout', 'status', id]).decisions.some((d) => d.kind === 'wave_installed'), 120_000);
    await broker.stop();
    await broker.start();
    const started = await until('wave 1 started', () => json<Status>(['rollout', 'status', id]).decisions.find((d) => d.kind === 'wave_started' && d.numbers.wave === 1), 120_000);
    const leader = controllers.find((c) => c.id === started.controller) as Controller;
    leader.child.kill('SIGKILL');
    // The other controller takes the rollout over; then the killed one comes back, as its service manager would
    // restart it, on its port: the bundle URL the rollout published is served there.
    const other = await until('a decision by the other controller', () => json<Status>(['rollout', 'status', id]).decisions.find((d) => d.n > started.n && d.controller !== leader.id), 120_000);
    expect(other.controller).not.toBe(leader.id);
    const restarted = await startController(env, leader.id, ['--tick', '500'], leader.port);
    controllers.push(restarted);
    await restarted.ready;
    const done = await until('the rollout completed', () => {
      const x = json<Status>(['rollout', 'status', id]);
      return x.state !== 'running' && x;
    }, 240_000);
    expect(done.state, JSON.stringify(done.decisions.map((d) => d.reason))).toBe('completed');
    expect(done.decisions.map((d) => d.n)).toEqual(done.decisions.map((_, i) => i + 1));
    expect(done.decisions.filter((d) => d.kind === 'wave_started').map((d) => d.numbers.wave)).toEqual([0, 1, 2]);
    expect(new Set(done.decisions.slice(1).map((d) => d.controller)).size).toBe(2);
    const v = await versions();
    expect(NAMES.filter((n) => n !== last && v[n] !== '3.0.0')).toEqual([]);
    expect(v[last]).toBe('1.0.0');
    const back = new DaemonProcess(away.root);
    daemons.push(back);
    await back.ready();
    await until('the stopped daemon caught up', async () => (await versions())[last] === '3.0.0', 120_000);
  }, 480_000);
});
