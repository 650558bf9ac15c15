/* Options every command shares, from flags or the environment, checked once. */
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
  };
}

export function needKey(c: Common): string {
  if (!c.key) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', '--key (or WAVEOS_FLEET_KEY) is required: the controller\'s signing key file (`waveos-fleet key new --out FILE` makes one)', 2);
  return c.key;
}
