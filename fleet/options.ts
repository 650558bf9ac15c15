/* Options every command shares, from flags or the environment, checked once. */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { FleetCtlError } from './keys.js';
import { TOPIC_ID } from '../daemon/fleet/protocol.js';

export interface Common {
  db: string;
  fleet: string;
  broker: string;
  key: string | undefined;
  store: string;
  json: boolean;
  controller: string;
  issuer: string;
  publicUrl: string | undefined;
  /** TLS to the broker (mqtts://): the fleet CA, and the controller's client certificate and key. */
  tls: { ca?: string; cert?: string; key?: string };
}

export type Flags = Record<string, string | boolean | string[] | undefined>;

export function str(f: Flags, name: string): string | undefined {
  const v = f[name];
  if (Array.isArray(v)) return v.at(-1);
  return typeof v === 'string' ? v : undefined;
}

export function need(f: Flags, name: string, what: string): string {
  const v = str(f, name);
  if (v === undefined || v === '') throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `--${name} is required: ${what}`, 2);
  return v;
}

export function commonOf(f: Flags): Common {
  const env = process.env;
  const db = str(f, 'db') ?? env.WAVEOS_FLEET_DB;
  if (!db) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', '--db (or WAVEOS_FLEET_DB) is required: a PostgreSQL connection string such as postgresql:///waveos_fleet?host=/run/postgresql', 2);
  const fleet = str(f, 'fleet') ?? env.WAVEOS_FLEET_ID ?? '';
  if (!TOPIC_ID.test(fleet)) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `--fleet (or WAVEOS_FLEET_ID): ${JSON.stringify(fleet)} is not a fleet id (letters, digits, . _ : -)`, 2);
  const controller = str(f, 'id') ?? env.WAVEOS_FLEET_CONTROLLER_ID ?? `${hostname()}:${process.pid}`;
  return {
    db,
    fleet,
    broker: str(f, 'broker') ?? env.WAVEOS_FLEET_BROKER ?? 'mqtt://127.0.0.1:1883',
    key: str(f, 'key') ?? env.WAVEOS_FLEET_KEY,
    store: str(f, 'store') ?? env.WAVEOS_FLEET_STORE ?? './fleet-store',
    json: f.json === true,
    controller,
    issuer: `${env.USER ?? 'operator'}@${controller}`.slice(0, 128),
    publicUrl: str(f, 'public-url') ?? env.WAVEOS_FLEET_PUBLIC_URL,
    tls: { ca: str(f, 'broker-ca') ?? env.WAVEOS_FLEET_BROKER_CA, cert: str(f, 'broker-cert') ?? env.WAVEOS_FLEET_BROKER_CERT, key: str(f, 'broker-key') ?? env.WAVEOS_FLEET_BROKER_KEY },
  };
}

export function needKey(c: Common): string {
  if (!c.key) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', '--key (or WAVEOS_FLEET_KEY) is required: the controller\'s signing key file (`waveos-fleet key new --out FILE` makes one)', 2);
  return c.key;
}

/** The TLS part of the MQTT connect options: files read once, a missing one named. */
export function tlsOptions(c: Common): { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean } {
  const read = (what: string, file: string | undefined): Buffer | undefined => {
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch (e) {
      throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `--broker-${what} ${file}: ${(e as Error).message}`, 2);
    }
  };
  const ca = read('ca', c.tls.ca);
  const cert = read('cert', c.tls.cert);
  const key = read('key', c.tls.key);
  return { ...(ca ? { ca, rejectUnauthorized: true } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}
