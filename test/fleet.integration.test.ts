import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePublicKey } from '../daemon/evidence/index.js';
import { fleetKeyIdOf } from '../daemon/fleet/protocol.js';
import { Broker, Controller, Nginx, type Pki, ensurePackage, fleetDaemonConfig, freePort, makePki, provisionFleetRoot } from './helpers/fleet-rig.js';
import { appVersion } from './helpers/bundle-rig.js';
import { assertFleetMessage, fleetValidators } from './helpers/fleet-schemas.js';
import { type TestKey, appDir, buildApp, makeKey, trustKey } from './helpers/bundles.js';
import { DaemonProcess, cli, readJsonl, removeRoot, sleep, tempRoot, waitFor } from './helpers/daemon.js';

const FLEET = 'acme';

interface Device {
  name: string;
  root: string;
  d: DaemonProcess;
  k: TestKey;
}

let base: string;
let pki: Pki;
let broker: Broker;
let ctl: Controller;
let nginx: Nginx;
let docroot: string;
const daemons: DaemonProcess[] = [];

function journalEvents(root: string, kind?: string): { seq: number; kind: string; source: string; reason: string; data: Record<string, unknown> }[] {
  const r = cli(['events', '--root', root, '--json', '--limit', '100000', ...(kind ? ['--kind', kind] : [])]);
  if (r.code !== 0) throw new Error(`events: ${r.stderr}`);
  return JSON.parse(r.stdout) as never;
}

async function startDevice(name: string): Promise<Device> {
  const root = tempRoot(`waveos-fleet-${name}-`);
  const pub = ctl.fleetKey.publicKey;
  provisionFleetRoot(root, pki, name, { keyId: ctl.keyId, pubFileText: JSON.stringify({ key_id: ctl.keyId, algorithm: 'ed25519', public_key: Buffer.from(pub).toString('base64') }) });
  const k = makeKey(join(root, 'work/keys'));
  trustKey(root, k);
  writeFileSync(join(root, 'etc/waveos/waveos.yaml'), fleetDaemonConfig({ device: name, fleet: FLEET, brokerPort: broker.port, cohorts: ['canary'], eventsMinSeverity: 'info' }));
  const d = new DaemonProcess(root);
  daemons.push(d);
  await d.ready();
  ctl.devices.set(name, parsePublicKey(readFileSync(join(root, 'var/lib/waveos/device.pub'), 'utf8')) as Uint8Array);
  return { name, root, d, k };
}

/** Waits until every journal event of the device has reached the controller, and returns them. */
async function allEventsArrive(dev: Device, what: string): Promise<number[]> {
  return waitFor(
    what,
    () => {
      const seqs = journalEvents(dev.root).map((e) => e.seq);
      const got = ctl.eventSeqs(dev.name);
      return seqs.every((s) => got.has(s)) ? seqs : undefined;
    },
    60_000,
    500,
  );
}

function lastStatus(dev: string): Record<string, unknown> | undefined {
  return ctl.of('status', dev).at(-1)?.body as Record<string, unknown> | undefined;
}

function results(dev: string): { cmd_id: string | null; cmd_seq: number | null; outcome: string; code: string | null; reason: string; data: Record<string, unknown> }[] {
  return ctl.of('cmd/result', dev).map((m) => m.body as never);
}

beforeAll(async () => {
  ensurePackage('mosquitto', 'mosquitto');
  ensurePackage('nginx', 'nginx');
  base = tempRoot('waveos-fleet-');
  pki = makePki(join(base, 'pki'));
  broker = new Broker(join(base, 'broker'), await freePort(), pki, FLEET);
  await broker.start();
  docroot = join(base, 'www');
  nginx = new Nginx(join(base, 'nginx'), await freePort(), docroot);
  await nginx.start();
  const fleetKey = nacl.sign.keyPair();
  ctl = new Controller(broker, pki, FLEET, fleetKeyIdOf(fleetKey.publicKey), fleetKey);
  await ctl.connect();
}, 120_000);

afterAll(async () => {
  for (const d of daemons) if (!d.exited) await d.kill('SIGTERM');
  await ctl?.close();
  await broker?.stop();
  await nginx?.stop();
  if (base) removeRoot(base);
});

describe('fleet link with a real Mosquitto (TLS, client certificates, ACL)', () => {
  let dev: Device;

  it('status (retained), events and health arrive, signed and matching the published schemas', async () => {
    dev = await startDevice('dev-1');
    await waitFor('a retained-capable status', () => lastStatus('dev-1'), 30_000);
    await waitFor('two health summaries', () => (ctl.of('health', 'dev-1').length >= 2 ? true : undefined), 30_000);
    expect(cli(['mode', 'set', 'degraded', '--reason', 'fleet test', '--root', dev.root]).code).toBe(0);
    await allEventsArrive(dev, 'every journal event at the controller');
    const st = lastStatus('dev-1') as { identity: { device_id: string; fleet: string }; mode: { current: string }; link: { events_acked_seq: number } };
    expect(st.identity).toMatchObject({ device_id: 'dev-1', fleet: FLEET });
    await waitFor('status to show the degraded mode', () => ((lastStatus('dev-1') as { mode: { current: string } }).mode.current === 'degraded' ? true : undefined));
    // A new subscriber gets the status at once: it is retained.
    const late = await retainedStatus('dev-1');
    expect(late.type).toBe('status');
    const h = ctl.of('health', 'dev-1').at(-1)?.body as { metrics: { name: string; n: number }[] };
    expect(h.metrics.length).toBeGreaterThan(0);
    expect(ctl.problems).toEqual([]);
  }, 120_000);

  it('SIGKILL and restart: events resume from the acknowledged seq, none lost', async () => {
    const before = Math.max(...ctl.eventSeqs('dev-1'));
    const firstAfter = ctl.of('events', 'dev-1').length;
    await dev.d.kill('SIGKILL');
    dev.d = new DaemonProcess(dev.root);
    daemons.push(dev.d);
    await dev.d.ready();
    expect(cli(['mode', 'set', 'normal', '--reason', 'after the kill', '--root', dev.root]).code).toBe(0);
    const seqs = await allEventsArrive(dev, 'events of both runs at the controller');
    const resumed = ctl.of('events', 'dev-1')[firstAfter]?.body as { first_seq: number };
    // At least once: the first batch after the restart starts at or before the first seq the broker had not acknowledged.
    expect(resumed.first_seq).toBeLessThanOrEqual(before + 1);
    expect(seqs.length).toBeGreaterThan(0);
    expect(journalEvents(dev.root, 'daemon.').length).toBeGreaterThan(0);
    expect(ctl.problems).toEqual([]);
  }, 120_000);

  it('the broker stopped for a minute while events happen: nothing lost once it is back', async () => {
    await broker.stop();
    const downAt = Date.now();
    for (let i = 0; i < 5; i++) {
      expect(cli(['mode', 'set', i % 2 ? 'normal' : 'degraded', '--reason', `offline change ${i}`, '--root', dev.root]).code).toBe(0);
      await sleep(12_000);
    }
    expect(Date.now() - downAt).toBeGreaterThanOrEqual(60_000);
    await broker.start();
    const upAt = Date.now();
    await allEventsArrive(dev, 'the events made while the broker was down');
    expect(journalEvents(dev.root, 'fleet.disconnected').length).toBeGreaterThan(0);
    // Health summaries made while offline waited in the outbox and arrive after.
    await waitFor('health covering the outage', () =>
      ctl.of('health', 'dev-1').some((m) => {
        const t = Date.parse((m.body as { to: string }).to);
        return t > downAt + 2_000 && t < upAt - 1_000;
      })
        ? true
        : undefined,
    );
    expect(ctl.problems).toEqual([]);
  }, 240_000);

  it('forged, unsigned, expired, replayed, reordered, unknown-key and other-device commands are refused and audited', async () => {
    const valid = ctl.cmd('dev-1', { id: 'r1', action: 'report', args: {} });
    await ctl.send('dev-1', 'cmd', valid);
    await waitFor('r1 done', () => results('dev-1').find((r) => r.cmd_id === 'r1' && r.outcome === 'succeeded'));
    const other = nacl.sign.keyPair();
    const forged = { ...ctl.cmd('dev-1', { id: 'f1', action: 'report', args: {} }) };
    (forged.body as { id: string }).id = 'f1-changed';
    const { sig: _sig, ...unsigned } = ctl.cmd('dev-1', { id: 'u1', action: 'report', args: {} });
    const later = ctl.cmd('dev-1', { id: 'o1', action: 'report', args: {} }, { seq: ctl.nextSeq('cmd') + 5 });
    const cases: [string, unknown][] = [
      ['bad_signature', forged],
      ['unsigned', unsigned],
      ['expired', ctl.cmd('dev-1', { id: 'e1', action: 'report', args: {} }, { expiresInMs: -500 })],
      ['replayed', valid],
      ['unknown_key', ctl.cmd('dev-1', { id: 'k1', action: 'report', args: {} }, { secretKey: other.secretKey, keyId: fleetKeyIdOf(other.publicKey) })],
      ['other_device', ctl.cmd('dev-2', { id: 'd1', action: 'set_mode', args: { mode: 'safe', reason: 'x' } })],
      ['other_device', ctl.cmd('dev-1', { id: 'c1', action: 'report', args: {} }, { target: { cohort: 'beta' } })],
    ];
    for (const [code, m] of cases) {
      const n = results('dev-1').filter((r) => r.outcome === 'refused').length;
      await ctl.send('dev-1', 'cmd', m);
      const r = await waitFor(`refusal ${code}`, () => results('dev-1').filter((x) => x.outcome === 'refused')[n]);
      expect(r.code).toBe(code);
    }
    // Reordered: a later seq is accepted, then one below it is refused.
    await ctl.send('dev-1', 'cmd', later);
    await waitFor('o1 done', () => results('dev-1').find((r) => r.cmd_id === 'o1' && r.outcome === 'succeeded'));
    await ctl.send('dev-1', 'cmd', ctl.cmd('dev-1', { id: 'o0', action: 'report', args: {} }, { seq: (later.seq as number) - 2 }));
    expect((await waitFor('reordered refusal', () => results('dev-1').find((r) => r.code === 'reordered'))).cmd_id).toBe('o0');
    const refused = journalEvents(dev.root, 'fleet.message_refused').map((e) => e.data.code);
    expect(new Set(refused)).toEqual(new Set(['bad_signature', 'unsigned', 'expired', 'replayed', 'unknown_key', 'other_device', 'reordered']));
    const audit = readJsonl(join(dev.root, 'var/log/waveos/audit.jsonl')).filter((a) => a.socket === 'fleet' && a.decision === 'deny');
    expect(audit.length).toBeGreaterThanOrEqual(8);
    expect(audit.every((a) => String(a.token).startsWith('fleet:'))).toBe(true);
    // Nothing refused was carried out: the mode was never set to safe.
    expect(journalEvents(dev.root, 'mode.changed').some((e) => e.data.to === 'safe')).toBe(false);
    expect(ctl.problems).toEqual([]);
  }, 120_000);

  it('set_mode goes through the executor with the fleet identity; export_evidence uploads a pack that verifies offline', async () => {
    expect(cli(['mode', 'set', 'normal', '--reason', 'before the fleet command', '--root', dev.root]).code).toBe(0);
    await ctl.send('dev-1', 'cmd', ctl.cmd('dev-1', { id: 'm1', action: 'set_mode', args: { mode: 'degraded', reason: 'canary hold' } }));
    const m1 = await waitFor('m1 done', () => results('dev-1').find((r) => r.cmd_id === 'm1'));
    expect(m1.outcome, m1.reason).toBe('succeeded');
    const changed = journalEvents(dev.root, 'mode.changed').at(-1);
    expect(changed?.source).toBe('fleet:ops@test');
    expect(journalEvents(dev.root, 'action.requested').some((e) => e.source === 'fleet:ops@test' || JSON.stringify(e).includes('fleet:ops@test'))).toBe(true);
    const url = `http://127.0.0.1:${nginx.port}/upload/dev-1-pack.tar.gz`;
    await ctl.send('dev-1', 'cmd', ctl.cmd('dev-1', { id: 'x1', action: 'export_evidence', args: { upload: { url, method: 'PUT', headers: {} }, reason: 'fleet ask' } }));
    const r = await waitFor('x1 done', () => results('dev-1').find((x) => x.cmd_id === 'x1'), 60_000);
    expect(r.outcome, r.reason).toBe('succeeded');
    const file = join(docroot, 'upload/dev-1-pack.tar.gz');
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(r.data.sha256);
    const keys = join(base, 'keys-dev-1');
    mkdirSync(keys, { recursive: true });
    copyFileSync(join(dev.root, 'var/lib/waveos/device.pub'), join(keys, 'device.pub'));
    const v = cli(['evidence', 'verify', file, '--keys', keys]);
    expect(v.code, v.stderr + v.stdout).toBe(0);
  }, 120_000);

  it('a desired bundle is downloaded from nginx across a cut connection (Range), installed, trial-committed and reported; a bad one is rolled back and reported', async () => {
    const good = join(docroot, 'slow/demo-1.0.0.wbundle');
    await buildApp(dev.k, appDir(join(dev.root, 'work'), 'demo', '1.0.0', { extraBytes: 1_200_000 }), good, '1.0.0', { trialMs: 1000 });
    const size = statSync(good).size;
    const sha = createHash('sha256').update(readFileSync(good)).digest('hex');
    // An app holds updates with the update lock: the desired state waits, and goes on once it is released.
    expect(cli(['fleet', 'lock', '--reason', 'busy filling a tank', '--root', dev.root]).code).toBe(0);
    await ctl.send('dev-1', 'desired', ctl.desired('dev-1', { bundles: { demo: { version: '1.0.0', url: `http://127.0.0.1:${nginx.port}/slow/demo-1.0.0.wbundle`, sha256: sha, size } } }));
    const waiting = await waitFor('desired waiting on the lock', () => {
      const d = lastStatus('dev-1')?.desired as { state: string; reason: string } | null;
      return d?.state === 'waiting' ? d : undefined;
    });
    expect(waiting.reason).toMatch(/update lock is held \(busy filling a tank/);
    expect(cli(['fleet', 'unlock', '--root', dev.root]).code).toBe(0);
    const part = join(dev.root, 'var/lib/waveos/inbox/.fleet/demo-1.0.0.wbundle.part');
    await waitFor('the download half-way', () => (existsSync(part) && statSync(part).size > size / 4 ? true : undefined), 30_000, 20);
    await nginx.stop();
    const cutAt = statSync(part).size;
    expect(cutAt).toBeLessThan(size);
    await sleep(1_000);
    await nginx.start();
    await waitFor('desired applied', () => ((lastStatus('dev-1')?.desired as { state: string } | null)?.state === 'applied' ? true : undefined), 90_000, 200);
    const dl = journalEvents(dev.root, 'fleet.download').at(-1);
    expect(dl?.data.resumed_from).toBeGreaterThan(0);
    expect(readFileSync(nginx.accessLog, 'utf8')).toMatch(/demo-1\.0\.0\.wbundle HTTP\/1\.1" 206 /);
    expect(journalEvents(dev.root, 'bundle.committed').some((e) => e.data.version === '1.0.0')).toBe(true);
    await waitFor('1.0.0 to run', () => (appVersion(dev.root)?.version === '1.0.0' ? true : undefined));
    expect((lastStatus('dev-1')?.versions as { bundles: Record<string, { version: string }> }).bundles.demo?.version).toBe('1.0.0');

    const bad = join(docroot, 'slow/demo-2.0.0.wbundle');
    await buildApp(dev.k, appDir(join(dev.root, 'work'), 'demo', '2.0.0', { broken: true }), bad, '2.0.0', { trialMs: 1500 });
    const badSha = createHash('sha256').update(readFileSync(bad)).digest('hex');
    await ctl.send('dev-1', 'desired', ctl.desired('dev-1', { bundles: { demo: { version: '2.0.0', url: `http://127.0.0.1:${nginx.port}/slow/demo-2.0.0.wbundle`, sha256: badSha, size: statSync(bad).size } } }));
    const failed = await waitFor('desired failed', () => {
      const d = lastStatus('dev-1')?.desired as { state: string; reason: string } | null;
      return d?.state === 'failed' ? d : undefined;
    }, 90_000, 200);
    expect(failed.reason).toMatch(/demo 2\.0\.0: install failed: rolled_back/);
    expect(journalEvents(dev.root, 'bundle.rolled_back').length).toBeGreaterThan(0);
    expect(journalEvents(dev.root, 'fleet.desired_failed').at(-1)?.reason).toMatch(/health gate|exited|rolled_back/);
    await waitFor('1.0.0 to run again', () => (appVersion(dev.root)?.version === '1.0.0' ? true : undefined));
    expect(ctl.problems).toEqual([]);
  }, 240_000);

  it("the broker's ACL keeps a device to its own topics", async () => {
    const c = pki.client('dev-1');
    const rogue = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, { ca: readFileSync(pki.ca), cert: readFileSync(c.cert), key: readFileSync(c.key), clientId: 'rogue-dev-1', protocolVersion: 5, reconnectPeriod: 0 });
    try {
      const seen: string[] = [];
      rogue.on('message', (topic) => seen.push(topic));
      // Mosquitto grants the subscription and filters at delivery: nothing for dev-2 may reach dev-1's identity.
      await rogue.subscribeAsync(`waveos/${FLEET}/dev-2/cmd`, { qos: 1 });
      await ctl.client.publishAsync(`waveos/${FLEET}/dev-2/cmd`, 'for dev-2 only', { qos: 1 });
      // Its own retained desired state comes after, on the same connection: once it is seen, the other would have been.
      await rogue.subscribeAsync(`waveos/${FLEET}/dev-1/desired`, { qos: 1 });
      await waitFor('its own retained desired', () => (seen.includes(`waveos/${FLEET}/dev-1/desired`) ? true : undefined));
      expect(seen).not.toContain(`waveos/${FLEET}/dev-2/cmd`);
      await rogue.publishAsync(`waveos/${FLEET}/dev-2/status`, 'forbidden', { qos: 1 }).catch(() => undefined);
      await rogue.publishAsync(`waveos/${FLEET}/dev-1/cmd/result`, 'marker', { qos: 1 }).catch(() => undefined);
      await waitFor('the marker at the controller', () => (ctl.raw.some((m) => m.text === 'marker') ? true : undefined));
      expect(ctl.raw.filter((m) => m.topic === `waveos/${FLEET}/dev-2/status`)).toEqual([]);
    } finally {
      await rogue.endAsync(true);
    }
  }, 60_000);

  it('waveos fleet status and provision (key + CSR with openssl, signed cert installed)', async () => {
    const s = cli(['fleet', 'status', '--json', '--root', dev.root]);
    expect(s.code, s.stderr).toBe(0);
    const doc = JSON.parse(s.stdout) as { state: string; outbox: { depth: number }; desired: { state: string } | null; last_sync: string | null };
    expect(doc.state).toBe('connected');
    expect(doc.last_sync).not.toBeNull();
    expect(doc.desired?.state).toBe('failed');
    const fresh = tempRoot('waveos-fleet-prov-');
    try {
      mkdirSync(join(fresh, 'etc/waveos'), { recursive: true });
      writeFileSync(join(fresh, 'etc/waveos/waveos.yaml'), 'schema_version: 2\ndevice:\n  device_id: dev-9\n');
      const csr = cli(['fleet', 'provision', '--csr', '--json', '--root', fresh]);
      expect(csr.code, csr.stderr).toBe(0);
      const out = JSON.parse(csr.stdout) as { key: string; csr: string; cn: string };
      expect(out.cn).toBe('dev-9');
      expect(statSync(out.key).mode & 0o777).toBe(0o600);
      pki.sign(out.csr, join(fresh, 'signed.crt'));
      const inst = cli(['fleet', 'provision', '--cert', join(fresh, 'signed.crt'), '--ca', pki.ca, '--json', '--root', fresh]);
      expect(inst.code, inst.stderr).toBe(0);
      expect(readdirSync(join(fresh, 'var/lib/waveos/fleet')).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.csr', 'tls.key']);
      // Another board's certificate is refused: it does not carry this board's key.
      const wrong = cli(['fleet', 'provision', '--cert', pki.client('dev-1').cert, '--root', fresh]);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/not for this board's key/);
    } finally {
      removeRoot(fresh);
    }
  }, 60_000);

  it('a signed desired with a mode and revisions: the mode is set through the executor as the fleet, and waveos status, fleet status and the device status report it', async () => {
    // Problems from here on only (the ACL test leaves its non-JSON marker among them on purpose).
    const problemsFrom = ctl.problems.length;
    expect(cli(['mode', 'set', 'normal', '--reason', 'before the desired mode', '--root', dev.root]).code).toBe(0);
    // Applied so far: desired states without revisions; nothing is in force yet.
    await waitFor('status in normal mode', () => ((lastStatus('dev-1')?.mode as { current: string }).current === 'normal' ? true : undefined));
    expect(lastStatus('dev-1')?.versions).toMatchObject({ config_revision: null, policy_revision: null });
    const m = ctl.desired('dev-1', { bundles: {}, mode: { mode: 'degraded', reason: 'canary hold for the site' }, config_revision: 'c-41', policy_revision: 'p-7' });
    await ctl.send('dev-1', 'desired', m);
    const seq = m.seq as number;
    const seen = await waitFor('a status with the desired state applied', () => {
      const msg = ctl.of('status', 'dev-1').at(-1);
      const b = msg?.body as { desired: { seq: number; state: string } | null; mode: { current: string }; versions: { config_revision: string | null } } | undefined;
      return b?.desired?.seq === seq && b.desired.state === 'applied' && b.mode.current === 'degraded' && b.versions.config_revision === 'c-41' ? msg : undefined;
    });
    // The message as the broker delivered it matches the published schema (docs/formats/fleet/status.schema.json).
    assertFleetMessage(fleetValidators(), 'status', seen);
    expect((seen?.body as { versions: Record<string, unknown> }).versions).toMatchObject({ config_revision: 'c-41', policy_revision: 'p-7' });
    const changed = journalEvents(dev.root, 'mode.changed').at(-1);
    expect(changed?.source).toBe('fleet:ops@test');
    expect(changed?.data.to).toBe('degraded');
    expect(changed?.reason).toContain(`desired state seq ${m.seq as number}`);
    // The executor's intent carries the fleet identity and the desired state's reason.
    const intent = journalEvents(dev.root, 'action.requested').filter((e) => JSON.stringify(e).includes('canary hold for the site')).at(-1);
    expect(JSON.stringify(intent)).toContain('fleet:ops@test');
    const st = cli(['status', '--json', '--root', dev.root]);
    expect(st.code, st.stderr).toBe(0);
    const doc = JSON.parse(st.stdout) as { mode: string; mode_reason: { source: string; reason: string } | null };
    expect(doc.mode).toBe('degraded');
    expect(doc.mode_reason?.source).toBe('fleet:ops@test');
    expect(doc.mode_reason?.reason).toContain('canary hold for the site');
    const fs = JSON.parse(cli(['fleet', 'status', '--json', '--root', dev.root]).stdout) as { desired: { seq: number; state: string; issuer: string }; applied: { seq: number; config_revision: string; policy_revision: string } };
    expect(fs.desired).toMatchObject({ seq: m.seq, state: 'applied', issuer: 'ops@test' });
    expect(fs.applied).toMatchObject({ seq: m.seq, config_revision: 'c-41', policy_revision: 'p-7' });
    const applied = journalEvents(dev.root, 'fleet.desired_applied').at(-1);
    expect(applied?.data).toMatchObject({ seq: m.seq, config_revision: 'c-41', policy_revision: 'p-7' });
    expect(ctl.problems.slice(problemsFrom)).toEqual([]);
  }, 60_000);

  it('maintenance windows and the update lock file: a desired bundle outside its window is not downloaded; re-sent with a window open now, it waits on the lock, then is installed', async () => {
    // Problems from here on only (the ACL test leaves its non-JSON marker among them on purpose).
    const problemsFrom = ctl.problems.length;
    const file = join(docroot, 'demo-1.1.0.wbundle');
    await buildApp(dev.k, appDir(join(dev.root, 'work'), 'demo', '1.1.0'), file, '1.1.0', { trialMs: 1000 });
    const bundle = { version: '1.1.0', url: `http://127.0.0.1:${nginx.port}/demo-1.1.0.wbundle`, sha256: createHash('sha256').update(readFileSync(file)).digest('hex'), size: statSync(file).size };
    // Windows are whole minutes (UTC): one that opens in two hours is shut now, one from an hour ago to an hour ahead is open.
    const hhmm = (ms: number): string => new Date(ms).toISOString().slice(11, 16);
    const now = Date.now();
    const shut = ctl.desired('dev-1', { bundles: { demo: bundle }, config_revision: 'c-42', maintenance_windows: [{ start: hhmm(now + 2 * 3_600_000), end: hhmm(now + 3 * 3_600_000) }] });
    // Sends a desired document and waits until the device's status reports that very one as waiting.
    const sendAndWaitUntilWaiting = async (what: string, doc: Record<string, unknown>): Promise<{ seq: number; state: string; reason: string }> => {
      await ctl.send('dev-1', 'desired', doc);
      const seq = doc.seq as number;
      return waitFor(what, () => {
        const d = lastStatus('dev-1')?.desired as { seq: number; state: string; reason: string } | null;
        return d?.seq === seq && d.state === 'waiting' ? d : undefined;
      });
    };
    const waiting = await sendAndWaitUntilWaiting('desired waiting for its window', shut);
    expect(waiting.reason).toBe('outside every maintenance window');
    expect(journalEvents(dev.root, 'fleet.desired_waiting').at(-1)?.data).toMatchObject({ seq: shut.seq, why: 'outside every maintenance window' });
    // Past the device's next look at its windows (every 5 s): still nothing fetched, nothing installed.
    await sleep(6_000);
    expect(readFileSync(nginx.accessLog, 'utf8')).not.toContain('demo-1.1.0.wbundle');
    expect(existsSync(join(dev.root, 'var/lib/waveos/inbox/.fleet/demo-1.1.0.wbundle.part'))).toBe(false);
    expect(appVersion(dev.root)?.version).toBe('1.0.0');
    const held = lastStatus('dev-1') as { desired: { state: string }; versions: { config_revision: string | null; bundles: Record<string, { version: string }> } };
    expect(held.desired.state).toBe('waiting');
    // The revision reported is the one applied, not the one waiting.
    expect(held.versions.config_revision).toBe('c-41');
    expect(held.versions.bundles.demo?.version).toBe('1.0.0');

    // Phase two: an app holds updates with the lock file, and the fleet re-signs the desired state with a window open now.
    const lock = join(dev.root, 'run/waveos/update.lock');
    writeFileSync(lock, 'calibrating the pump\n');
    const open = ctl.desired('dev-1', { bundles: { demo: bundle }, config_revision: 'c-42', maintenance_windows: [{ start: hhmm(now - 3_600_000), end: hhmm(now + 3_600_000) }] });
    const locked = await sendAndWaitUntilWaiting('desired waiting on the lock file', open);
    expect(locked.reason).toBe('the update lock is held (calibrating the pump)');
    const fsHeld = JSON.parse(cli(['fleet', 'status', '--json', '--root', dev.root]).stdout) as { update_lock: { held: boolean; reason: string } };
    expect(fsHeld.update_lock).toEqual({ held: true, reason: 'calibrating the pump' });
    await sleep(6_000);
    expect(readFileSync(nginx.accessLog, 'utf8')).not.toContain('demo-1.1.0.wbundle');
    rmSync(lock);
    await waitFor('desired applied in its window', () => {
      const d = lastStatus('dev-1')?.desired as { seq: number; state: string } | null;
      return d?.seq === (open.seq as number) && d.state === 'applied' ? true : undefined;
    }, 90_000, 200);
    expect(readFileSync(nginx.accessLog, 'utf8')).toMatch(/GET \/demo-1\.1\.0\.wbundle HTTP\/1\.1" 200 /);
    expect(journalEvents(dev.root, 'bundle.committed').some((e) => e.data.version === '1.1.0')).toBe(true);
    await waitFor('1.1.0 to run', () => (appVersion(dev.root)?.version === '1.1.0' ? true : undefined));
    await waitFor('status with 1.1.0 and revision c-42', () => {
      const b = lastStatus('dev-1') as { versions: { config_revision: string | null; policy_revision: string | null; bundles: Record<string, { version: string }> } };
      return b.versions.bundles.demo?.version === '1.1.0' && b.versions.config_revision === 'c-42' ? b : undefined;
    });
    // The policy revision was not named this time: the one applied before stays in force.
    expect((lastStatus('dev-1') as { versions: { policy_revision: string | null } }).versions.policy_revision).toBe('p-7');
    expect(ctl.problems.slice(problemsFrom)).toEqual([]);
  }, 180_000);
});

async function retainedStatus(device: string): Promise<Record<string, unknown>> {
  const c = pki.client('controller');
  const sub = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, { ca: readFileSync(pki.ca), cert: readFileSync(c.cert), key: readFileSync(c.key), clientId: 'late-subscriber', protocolVersion: 5, reconnectPeriod: 0 });
  try {
    const got = new Promise<Record<string, unknown>>((resolve) => sub.on('message', (_t, p, packet) => packet.retain && resolve(JSON.parse(p.toString()) as Record<string, unknown>)));
    await sub.subscribeAsync(`waveos/${FLEET}/${device}/status`, { qos: 1 });
    return await got;
  } finally {
    await sub.endAsync(true);
  }
}
