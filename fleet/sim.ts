/*
 * Simulated devices that speak the real fleet protocol: each has its own ed25519 key and MQTT session
 * (client id waveos-<device>, clean session off), publishes a signed retained `status` and periodic `health`,
 * checks every `desired` document as a device does (schema, fleet key, signature, target, time, seq) and
 * "installs" with an outcome drawn from its options, then reports it. Used by the end-to-end tests and the
 * scale bench (several processes of a few thousand sessions each).
 *
 * Run: node dist/controller/fleet/sim.js '<json options>'; stdin takes JSON lines {"op":"offline"|"online","ids":[…]};
 * stdout prints JSON lines ({"ready":n}, {"installed":device,…}).
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';
import { MESSAGE_SCHEMAS, deviceKeyIdOf, signedBytes, topicOf, type DesiredMessage, type StatusBody } from '../daemon/fleet/protocol.js';

export interface SimOptions {
  broker: string;
  fleet: string;
  prefix: string;
  from: number;
  count: number;
  /** Trusted fleet public keys (raw, base64) by key id. */
  fleetKeys: Record<string, string>;
  tags: string[];
  /** Tags added to every n-th device: {"n": 2, "tag": "even"}. */
  extraTags?: { every: number; tag: string }[];
  bundle: string;
  initialVersion: string;
  installMs: number;
  healthMs: number;
  /** Share (0..1) of devices whose install of this version fails (the health-gated trial rolls back). */
  failShare: Record<string, number>;
  /** Health score a device reports once it runs this version. */
  healthOf: Record<string, number>;
  baseHealth: number;
  connectPerSecond: number;
}

interface Dev {
  id: string;
  priv: KeyObject;
  pubB64: string;
  keyId: string;
  client?: MqttClient;
  seq: number;
  version: string;
  bundleState: string;
  desired: StatusBody['desired'];
  lastSeq: number;
  lastDigest: string;
  health: number;
  connectedSince: string | null;
  reconnects: number;
}

const o = JSON.parse(process.argv[2] ?? '{}') as SimOptions;
const fleetKeys = new Map(Object.entries(o.fleetKeys).map(([k, v]) => [k, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(v, 'base64').toString('base64url') }, format: 'jwk' })]));
const out = (x: unknown): void => void process.stdout.write(`${JSON.stringify(x)}\n`);
const hashShare = (s: string): number => createHash('sha256').update(s).digest().readUInt32BE(0) / 0x1_0000_0000;
const bootId = createHash('sha256').update(`${o.prefix}${process.pid}${Date.now()}`).digest('hex').slice(0, 32);

function makeDev(i: number): Dev {
  const id = `${o.prefix}${String(i).padStart(5, '0')}`;
  const seed = createHash('sha256').update(`waveos-sim-key:${id}`).digest();
  const priv = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  const pubRaw = Buffer.from(createPublicKey(priv).export({ format: 'jwk' }).x as string, 'base64url');
  return { id, priv, pubB64: pubRaw.toString('base64'), keyId: deviceKeyIdOf(new Uint8Array(pubRaw)), seq: Date.now(), version: o.initialVersion, bundleState: 'committed', desired: null, lastSeq: 0, lastDigest: '', health: o.baseHealth, connectedSince: null, reconnects: 0 };
}

function tagsOf(i: number): string[] {
  return [...o.tags, ...(o.extraTags ?? []).filter((t) => i % t.every === 0).map((t) => t.tag)];
}

function publish(d: Dev, type: 'status' | 'health' | 'cmd/result', body: unknown): void {
  if (!d.client?.connected) return;
  const unsigned = { v: 1, type, fleet: o.fleet, device: d.id, seq: ++d.seq, ts: new Date().toISOString(), key_id: d.keyId, body };
  const msg = { ...unsigned, sig: sign(null, signedBytes(unsigned), d.priv).toString('base64') };
  d.client.publish(topicOf(o.fleet, d.id, type), JSON.stringify(msg), { qos: 1, retain: type === 'status' });
}

function statusOf(d: Dev, i: number): StatusBody {
  return {
    identity: { device_id: d.id, fleet: o.fleet, cohorts: tagsOf(i), key_id: d.keyId, public_key: d.pubB64, run_id: bootId, boot_id: bootId },
    versions: { waveos: '0.1.0', policy: null, config_revision: null, policy_revision: null, bundles: { [o.bundle]: { kind: 'app', version: d.version, bundle_id: createHash('sha256').update(o.bundle + d.version).digest('hex'), state: d.bundleState } } },
    mode: { current: 'normal', why: null, since: null },
    health: { score: d.health, deductions: d.health < 100 ? [{ points: 100 - d.health, why: 'simulated' }] : [] },
    last_incident: null,
    evidence: [],
    link: { connected_since: d.connectedSince, reconnects: d.reconnects, outbox_depth: 0, outbox_dropped: 0, events_acked_seq: 0 },
    desired: d.desired,
    uptime_s: Math.round(process.uptime()),
  };
}

function healthOf(d: Dev): unknown {
  const to = new Date();
  return { from: new Date(to.getTime() - o.healthMs).toISOString(), to: to.toISOString(), interval_s: o.healthMs / 1000, mode: 'normal', score: d.health, metrics: [{ name: 'cpu.usage', unit: 'percent', n: 1, min: 5, max: 5, mean: 5, last: 5 }], outbox: { depth: 0, dropped: 0 } };
}

/** The device's checks on a desired document; undefined when it is refused or a re-delivery. */
function accept(d: Dev, payload: Buffer): DesiredMessage | undefined {
  if (payload.length === 0) return undefined;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const r = MESSAGE_SCHEMAS.desired.safeParse(raw);
  if (!r.success) return undefined;
  const m = r.data;
  const key = fleetKeys.get(m.key_id);
  if (!key || !verify(null, signedBytes(raw), key, Buffer.from(m.sig, 'base64'))) return undefined;
  if (m.fleet !== o.fleet || !('device' in m.target) || m.target.device !== d.id) return undefined;
  if (Date.parse(m.expires_at) <= Date.now()) return undefined;
  if (m.seq <= d.lastSeq) return undefined; // a re-delivery of the accepted one, or a replay: ignored
  d.lastSeq = m.seq;
  return m;
}

function onDesired(d: Dev, i: number, m: DesiredMessage): void {
  const want = m.body.bundles[o.bundle];
  const at = (): string => new Date().toISOString();
  if (!want || want.version === d.version) {
    d.desired = { seq: m.seq, state: 'applied', reason: 'in force', at: at() };
    publish(d, 'status', statusOf(d, i));
    return;
  }
  d.desired = { seq: m.seq, state: 'applying', reason: `installing ${o.bundle} ${want.version}`, at: at() };
  publish(d, 'status', statusOf(d, i));
  const seq = m.seq;
  setTimeout(() => {
    if (d.lastSeq !== seq) return;
    const fails = hashShare(`${d.id}:${want.version}`) < (o.failShare[want.version] ?? 0);
    if (fails) {
      d.desired = { seq, state: 'failed', reason: `install: rolled_back (health gate): ${o.bundle} ${want.version} failed its trial`, at: at() };
    } else {
      d.version = want.version;
      d.health = o.healthOf[want.version] ?? o.baseHealth;
      d.desired = { seq, state: 'applied', reason: `in force: ${o.bundle} ${want.version}`, at: at() };
    }
    publish(d, 'status', statusOf(d, i));
    out({ installed: d.id, version: want.version, ok: !fails, at: Date.now() });
  }, o.installMs * (0.5 + hashShare(`${d.id}:${seq}`)));
}

function connect(d: Dev, i: number): Promise<void> {
  return new Promise((resolve) => {
    const c = mqtt.connect(o.broker, { clientId: `waveos-${d.id}`, clean: false, reconnectPeriod: 1000 + Math.floor(hashShare(d.id) * 1000), keepalive: 60, connectTimeout: 30_000 });
    d.client = c;
    c.on('connect', () => {
      if (d.connectedSince) d.reconnects++;
      d.connectedSince = new Date().toISOString();
      c.subscribe([topicOf(o.fleet, d.id, 'desired'), topicOf(o.fleet, d.id, 'cmd')], { qos: 1 }, () => {
        publish(d, 'status', statusOf(d, i));
        resolve();
      });
    });
    c.on('message', (topic, payload) => {
      if (topic.endsWith('/desired')) {
        const m = accept(d, payload);
        if (m) onDesired(d, i, m);
      } else void onCmd(d, i, payload);
    });
    c.on('error', () => undefined);
  });
}

async function onCmd(d: Dev, i: number, payload: Buffer): Promise<void> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  } catch {
    return;
  }
  const r = MESSAGE_SCHEMAS.cmd.safeParse(raw);
  if (!r.success) return;
  const key = fleetKeys.get(r.data.key_id);
  if (!key || !verify(null, signedBytes(raw), key, Buffer.from(r.data.sig, 'base64'))) return;
  const b = r.data.body;
  if (b.action === 'report') return publish(d, 'status', statusOf(d, i));
  if (b.action !== 'export_evidence') return;
  const pack = Buffer.from(`simulated evidence of ${d.id}\n`);
  const res = await fetch(b.args.upload.url, { method: b.args.upload.method, body: pack, headers: b.args.upload.headers });
  publish(d, 'cmd/result', { cmd_id: b.id, cmd_seq: r.data.seq, action: b.action, outcome: res.ok ? 'succeeded' : 'failed', code: null, reason: `upload: HTTP ${res.status}`, data: { file: `${d.id}.tar.gz`, bytes: pack.length, http_status: res.status } });
}

async function main(): Promise<void> {
  const devs: Dev[] = [];
  for (let i = o.from; i < o.from + o.count; i++) devs.push(makeDev(i));
  const perTick = Math.max(1, Math.round(o.connectPerSecond / 10));
  const started: Promise<void>[] = [];
  for (let k = 0; k < devs.length; k += perTick) {
    for (const [j, d] of devs.slice(k, k + perTick).entries()) started.push(connect(d, o.from + k + j));
    await new Promise((r) => setTimeout(r, 100));
  }
  await Promise.all(started);
  out({ ready: devs.length, rss: process.memoryUsage.rss() });
  const byId = new Map(devs.map((d, k) => [d.id, { d, i: o.from + k }]));
  let next = 0;
  // Health: spread evenly over the interval, a slice of the devices each 100 ms.
  setInterval(() => {
    const n = Math.ceil(devs.length / (o.healthMs / 100));
    for (let k = 0; k < n; k++) {
      const d = devs[next++ % devs.length] as Dev;
      publish(d, 'health', healthOf(d));
    }
  }, 100);
  createInterface({ input: process.stdin }).on('line', (line) => {
    const cmd = JSON.parse(line) as { op: string; ids: string[] };
    for (const id of cmd.ids) {
      const e = byId.get(id);
      if (!e) continue;
      if (cmd.op === 'offline') e.d.client?.end(true);
      if (cmd.op === 'online') void connect(e.d, e.i).then(() => out({ online: id }));
    }
    out({ done: cmd.op, ids: cmd.ids });
  });
}

void main();
