import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type nacl from 'tweetnacl';
import { type Channel, type CmdBody, parseTopic, signFleetMessage, verifyDeviceMessage } from '../../daemon/fleet/protocol.js';
import { assertFleetMessage, fleetValidators } from './fleet-schemas.js';
import { REPO, sleep, waitFor } from './daemon.js';

/** Installs a Debian package through the project's script (CI on a clean machine gets it the same way). */
export function ensurePackage(command: string, pkg: string): void {
  const r = spawnSync('bash', [join(REPO, 'scripts/ensure-debian-package.sh'), command, pkg], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot install ${pkg}: ${r.stderr}`);
}

export { freePort } from './net.js';

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A fleet CA, the broker's certificate (for 127.0.0.1) and a client certificate per name (CN = the name). */
export interface Pki {
  dir: string;
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  client(name: string): { cert: string; key: string };
  /** Signs a CSR with the CA, as the fleet's CA would. */
  sign(csr: string, out: string): void;
}

export function makePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=waveos test fleet CA'], dir);
  const sign = (csr: string, out: string, ext?: string): void => {
    const extArgs = ext ? ['-extfile', ext] : [];
    openssl(['x509', '-req', '-in', csr, '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '30', '-out', out, ...extArgs], dir);
  };
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  sign(join(dir, 'server.csr'), join(dir, 'server.crt'), join(dir, 'server.ext'));
  const client = (name: string): { cert: string; key: string } => {
    const key = join(dir, `${name}.key`);
    const cert = join(dir, `${name}.crt`);
    try {
      readFileSync(cert);
    } catch {
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
      sign(join(dir, `${name}.csr`), cert);
    }
    return { cert, key };
  };
  return { dir, ca: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), serverCert: join(dir, 'server.crt'), serverKey: join(dir, 'server.key'), client, sign: (csr, out) => sign(csr, out) };
}

/** What the fleet tests' daemons run with: quick trials, a fast health beat and a short reconnect backoff. */
export function fleetDaemonConfig(o: { device: string; fleet: string; brokerPort: number; cohorts: string[]; eventsMinSeverity?: string }): string {
  return `schema_version: 2
device:
  device_id: ${o.device}
bundles:
  trial: 1s
  inbox_stable: 200ms
fleet:
  enabled: true
  fleet: ${o.fleet}
  broker: mqtts://127.0.0.1:${o.brokerPort}
  cohorts: [${o.cohorts.join(', ')}]
  health_interval: 2s
  reconnect: { min: 200ms, max: 2s }
${o.eventsMinSeverity ? `  events: { min_severity: ${o.eventsMinSeverity} }\n` : ''}  download_timeout: 2m
`;
}

/**
 * A device root made ready for the fleet as provisioning leaves it: its TLS key and certificate (signed by the
 * test CA, CN = the device id) and the CA in var/lib/waveos/fleet/, the fleet key trusted in etc/waveos/fleet-keys/.
 */
export function provisionFleetRoot(root: string, pki: Pki, name: string, fleetKey: { keyId: string; pubFileText: string }): void {
  const fleetDir = join(root, 'var/lib/waveos/fleet');
  mkdirSync(fleetDir, { recursive: true });
  const c = pki.client(name);
  copyFileSync(c.cert, join(fleetDir, 'tls.crt'));
  copyFileSync(c.key, join(fleetDir, 'tls.key'));
  copyFileSync(pki.ca, join(fleetDir, 'ca.crt'));
  mkdirSync(join(root, 'etc/waveos/fleet-keys'), { recursive: true });
  writeFileSync(join(root, 'etc/waveos/fleet-keys', `${fleetKey.keyId}.pub`), fleetKey.pubFileText);
}

/** A real Mosquitto on 127.0.0.1 with TLS, client certificates required, and an ACL: a device may use only its own topics. */
export class Broker {
  proc: ChildProcess | undefined;
  log = '';
  readonly conf: string;

  constructor(
    readonly dir: string,
    readonly port: number,
    pki: Pki,
    fleet: string,
  ) {
    mkdirSync(join(dir, 'data'), { recursive: true });
    const acl = [
      'user controller',
      `topic readwrite waveos/${fleet}/#`,
      '',
      ...['status', 'events', 'health', 'cmd/result'].map((c) => `pattern write waveos/${fleet}/%u/${c}`),
      ...['desired', 'cmd'].map((c) => `pattern read waveos/${fleet}/%u/${c}`),
      '',
    ].join('\n');
    writeFileSync(join(dir, 'acl'), acl);
    this.conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      this.conf,
      [
        // As root Mosquitto would drop to its own user, which cannot read the test's private temp folder.
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        'per_listener_settings false',
        'allow_anonymous false',
        `acl_file ${join(dir, 'acl')}`,
        'persistence true',
        `persistence_location ${join(dir, 'data')}/`,
        'autosave_interval 1',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        `listener ${port} 127.0.0.1`,
        `cafile ${pki.ca}`,
        `certfile ${pki.serverCert}`,
        `keyfile ${pki.serverKey}`,
        'require_certificate true',
        'use_identity_as_username true',
        '',
      ].join('\n'),
    );
  }

  async start(): Promise<void> {
    this.proc = spawn('mosquitto', ['-c', this.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr?.on('data', (c: Buffer) => (this.log += c.toString()));
    await waitFor('mosquitto to listen', () => (this.log.includes(' running') ? true : this.proc?.exitCode != null ? (() => { throw new Error(`mosquitto exited: ${this.log}`); })() : undefined), 10_000);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await gone;
  }
}

export interface Received {
  channel: Channel;
  device: string;
  message: Record<string, unknown>;
  retained: boolean;
}

/**
 * The test's fleet side: an MQTT client with the controller's certificate that sees every device message,
 * checks each against the published JSON Schemas and the device's signature, and publishes signed fleet messages.
 */
export class Controller {
  readonly received: Received[] = [];
  readonly problems: string[] = [];
  private readonly validators = fleetValidators();
  /** Every message as it came (topic and payload text), forbidden or not. */
  readonly raw: { topic: string; text: string }[] = [];
  private seq = { desired: 0, cmd: 0 };
  readonly devices = new Map<string, Uint8Array>();
  client!: MqttClient;

  constructor(
    private readonly broker: Broker,
    private readonly pki: Pki,
    readonly fleet: string,
    readonly keyId: string,
    readonly fleetKey: nacl.SignKeyPair,
  ) {}

  async connect(): Promise<void> {
    const c = this.pki.client('controller');
    this.client = mqtt.connect(`mqtts://127.0.0.1:${this.broker.port}`, {
      ca: readFileSync(this.pki.ca),
      cert: readFileSync(c.cert),
      key: readFileSync(c.key),
      clientId: 'controller',
      protocolVersion: 5,
      reconnectPeriod: 300,
      // A persistent session, as a controller keeps: what devices send while it reconnects waits at the broker.
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    this.client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet.retain));
    await new Promise<void>((resolve, reject) => {
      this.client.once('connect', () => resolve());
      this.client.once('error', reject);
    });
    await this.client.subscribeAsync(`waveos/${this.fleet}/#`, { qos: 1 });
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    this.raw.push({ topic, text: payload.toString() });
    const t = parseTopic(topic);
    if (!t || payload.length === 0) return;
    if (t.channel === 'desired' || t.channel === 'cmd') return;
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(payload.toString()) as Record<string, unknown>;
      assertFleetMessage(this.validators, t.channel, message);
    } catch (e) {
      this.problems.push(`${topic}: ${(e as Error).message}`);
      return;
    }
    const pub = this.devices.get(t.device);
    if (pub && !verifyDeviceMessage(t.channel as 'status', payload, pub).ok) this.problems.push(`${topic}: the device signature does not verify`);
    this.received.push({ channel: t.channel, device: t.device, message, retained });
  }

  of(channel: Channel, device: string): Record<string, unknown>[] {
    return this.received.filter((r) => r.channel === channel && r.device === device).map((r) => r.message);
  }

  /** Every journal seq the device's `events` messages carried. */
  eventSeqs(device: string): Set<number> {
    const out = new Set<number>();
    for (const m of this.of('events', device)) for (const e of (m.body as { events: { seq: number }[] }).events) out.add(e.seq);
    return out;
  }

  nextSeq(channel: 'desired' | 'cmd'): number {
    return ++this.seq[channel];
  }

  cmd(device: string, body: CmdBody, over: { seq?: number; expiresInMs?: number; target?: { device: string } | { cohort: string }; secretKey?: Uint8Array; keyId?: string } = {}): Record<string, unknown> {
    const now = Date.now();
    // A seq given on purpose (a test of ordering) moves the counter too: the next ones must be above it.
    if (over.seq !== undefined) this.seq.cmd = Math.max(this.seq.cmd, over.seq);
    return signFleetMessage(
      'cmd',
      { fleet: this.fleet, target: over.target ?? { device }, seq: over.seq ?? this.nextSeq('cmd'), issued_at: new Date(now - 1000).toISOString(), expires_at: new Date(now + (over.expiresInMs ?? 600_000)).toISOString(), issuer: 'ops@test', body },
      { key_id: over.keyId ?? this.keyId, secretKey: over.secretKey ?? this.fleetKey.secretKey },
    );
  }

  desired(device: string, body: Parameters<typeof signFleetMessage<'desired'>>[1]['body']): Record<string, unknown> {
    const now = Date.now();
    return signFleetMessage('desired', { fleet: this.fleet, target: { device }, seq: this.nextSeq('desired'), issued_at: new Date(now - 1000).toISOString(), expires_at: new Date(now + 3_600_000).toISOString(), issuer: 'ops@test', body }, { key_id: this.keyId, secretKey: this.fleetKey.secretKey });
  }

  async send(device: string, channel: 'cmd' | 'desired', message: unknown): Promise<void> {
    await this.client.publishAsync(`waveos/${this.fleet}/${device}/${channel}`, typeof message === 'string' ? message : JSON.stringify(message), { qos: 1, retain: channel === 'desired' });
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true).catch(() => undefined);
  }
}

/** A real nginx serving `docroot` on 127.0.0.1: `/slow/` rate-limited (to cut a download half-way), `/upload/` taking PUTs. */
export class Nginx {
  proc: ChildProcess | undefined;
  log = '';
  readonly conf: string;
  readonly accessLog: string;

  constructor(
    readonly dir: string,
    readonly port: number,
    readonly docroot: string,
    rate = '150k',
  ) {
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    mkdirSync(join(docroot, 'upload'), { recursive: true });
    mkdirSync(join(docroot, 'slow'), { recursive: true });
    this.conf = join(dir, 'nginx.conf');
    this.accessLog = join(dir, 'access.log');
    writeFileSync(
      this.conf,
      `daemon off;
master_process on;
worker_processes 1;
${process.getuid?.() === 0 ? 'user root;' : ''}
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 64; }
http {
  access_log ${this.accessLog};
  client_body_temp_path ${join(dir, 'tmp')};
  proxy_temp_path ${join(dir, 'tmp')};
  fastcgi_temp_path ${join(dir, 'tmp')};
  uwsgi_temp_path ${join(dir, 'tmp')};
  scgi_temp_path ${join(dir, 'tmp')};
  server {
    listen 127.0.0.1:${port};
    root ${docroot};
    location /slow/ { limit_rate ${rate}; }
    location /upload/ { dav_methods PUT; create_full_put_path on; client_max_body_size 200m; }
  }
}
`,
    );
  }

  async start(): Promise<void> {
    this.proc = spawn('nginx', ['-c', this.conf, '-e', join(this.dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr?.on('data', (c: Buffer) => (this.log += c.toString()));
    const end = Date.now() + 10_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${this.port}/`).then(
        (r) => r.status > 0,
        () => false,
      );
      if (ok) return;
      if (this.proc.exitCode !== null || Date.now() > end) throw new Error(`nginx did not start: ${this.log}`);
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    // SIGTERM is nginx's fast shutdown: open connections are cut, as a flaky link would cut them.
    p.kill('SIGTERM');
    await gone;
    await sleep(50);
  }
}
