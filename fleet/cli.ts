/*
 * `waveos-fleet`: the fleet controller's command line. Every command but `serve`, `key new` and
 * `evidence verify` talks to PostgreSQL only (and `evidence pull` to the broker), so it can run anywhere the
 * database is reachable; `--json` on every command prints one JSON document.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { newFleetKeyPair } from '../daemon/fleet/protocol.js';
import { ensureSchema, openDb } from './db.js';
import { pullEvidence, listEvidence, verifyEvidence } from './evidence.js';
import { createCohort, deviceDetail, devicesTable, deviceJson, listCohorts, listDevices } from './inventory.js';
import { FleetCtlError, loadSigningKey } from './keys.js';
import { type Common, type Flags, commonOf, need, needKey, str, tlsOptions } from './options.js';
import { parseDuration } from './plan.js';
import { createRollout, listRollouts, operate, rolloutStatus } from './rollouts.js';
import { serve } from './serve.js';

const USAGE = `usage: waveos-fleet COMMAND [options]    (docs/fleet.md)
  serve [--listen HOST:PORT] [--public-url URL]      run a controller (ingest, rollouts, /metrics)
  key new --out FILE                                  make a signing key (FILE, mode 0600) and FILE.pub
  devices [--where F]... [--json]                     the inventory; F: tag=T version=V mode=M bundle:N=V health<N seen<10m
  device ID [--json]                                  one device: status, recent incidents, desired state sent
  cohort create NAME (--where F... | --devices a,b) [--dynamic]   cohort list
  rollout create --bundle FILE --cohort C [--canary 1%] [--waves 10%,50%,100%] [--max-failures 2%]
                 [--min-health-delta -10] [--soak 10m] [--offline-after 90s] [--on-halt rollback|hold] [--url URL]
  rollout list | status ID | pause ID | resume ID | abort ID | rollback ID   [--reason TEXT]
  evidence pull DEVICE [--wait 60s] | evidence list [DEVICE] | evidence verify FILE [--keys DIR]
common: --db URL --fleet ID --broker URL [--broker-ca F --broker-cert F --broker-key F] --key FILE --store DIR
        (or WAVEOS_FLEET_DB, _ID, _BROKER, _BROKER_CA, _BROKER_CERT, _BROKER_KEY, _KEY, _STORE)`;

const OPTIONS = {
  db: { type: 'string' }, fleet: { type: 'string' }, broker: { type: 'string' }, key: { type: 'string' }, store: { type: 'string' }, id: { type: 'string' },
  json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, listen: { type: 'string' }, 'public-url': { type: 'string' }, tick: { type: 'string' },
  out: { type: 'string' }, where: { type: 'string', multiple: true }, devices: { type: 'string' }, dynamic: { type: 'boolean' },
  bundle: { type: 'string' }, cohort: { type: 'string' }, canary: { type: 'string' }, waves: { type: 'string' }, 'max-failures': { type: 'string' },
  'min-health-delta': { type: 'string' }, soak: { type: 'string' }, 'offline-after': { type: 'string' }, 'on-halt': { type: 'string' }, url: { type: 'string' },
  reason: { type: 'string' }, wait: { type: 'string' }, keys: { type: 'string' },
  'broker-ca': { type: 'string' }, 'broker-cert': { type: 'string' }, 'broker-key': { type: 'string' },
} as const;

function print(c: { json: boolean }, value: unknown, human: () => string): void {
  process.stdout.write(c.json ? `${JSON.stringify(value, null, 2)}\n` : human());
}

function durationFlag(f: Flags, name: string): number | undefined {
  const v = str(f, name);
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `--${name} ${JSON.stringify(v)}: expected a duration such as 30s, 10m, 1h`, 2);
  return ms;
}

function keyNew(f: Flags, json: boolean): void {
  const out = need(f, 'out', 'where to write the signing key');
  if (existsSync(out)) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `${out} exists: a key is never overwritten (rotate by making a new file, docs/fleet.md)`, 2);
  const kp = newFleetKeyPair();
  writeFileSync(out, kp.keyFileText, { mode: 0o600, flag: 'wx' });
  chmodSync(out, 0o600);
  writeFileSync(`${out}.pub`, kp.pubFileText, { mode: 0o644 });
  print({ json }, { key_id: kp.key_id, key: out, pub: `${out}.pub` }, () => `key ${kp.key_id}: ${out} (0600); install ${out}.pub in etc/waveos/fleet-keys/ on every device\n`);
}

function planOf(f: Flags): Record<string, unknown> {
  const plan: Record<string, unknown> = {};
  if (str(f, 'canary')) plan.canary = str(f, 'canary');
  if (str(f, 'waves')) plan.waves = (str(f, 'waves') as string).split(',').map((s) => s.trim());
  if (str(f, 'max-failures')) plan.max_failures = str(f, 'max-failures');
  const mhd = str(f, 'min-health-delta');
  if (mhd !== undefined) {
    if (!/^-?\d+(\.\d+)?$/.test(mhd)) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `--min-health-delta ${JSON.stringify(mhd)}: expected a number of health points such as -10`, 2);
    plan.min_health_delta = Number(mhd);
  }
  const soak = durationFlag(f, 'soak');
  if (soak !== undefined) plan.soak_ms = soak;
  const off = durationFlag(f, 'offline-after');
  if (off !== undefined) plan.offline_after_ms = off;
  if (str(f, 'on-halt')) plan.on_halt = str(f, 'on-halt');
  return plan;
}

async function rolloutCmd(c: Common, f: Flags, args: string[]): Promise<void> {
  const db = openDb(c.db, 2);
  try {
    await ensureSchema(db);
    const sub = args[0];
    const id = args[1] ?? '';
    if (sub === 'create') {
      const { planSchema } = await import('./plan.js');
      const p = planSchema.safeParse(planOf(f));
      if (!p.success) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `rollout plan: ${p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, 2);
      const r = await createRollout(db, c.fleet, { bundleFile: need(f, 'bundle', 'the signed bundle file to roll out'), url: str(f, 'url'), publicUrl: c.publicUrl, store: c.store, cohort: need(f, 'cohort', 'which devices (a cohort name, or "all")'), plan: p.data, by: c.issuer });
      return print(c, r, () => `rollout ${String(r.rollout)}: ${String((r.bundle as { name: string }).name)} to ${String(r.devices)} devices in waves of ${(r.waves as number[]).join(', ')}\n`);
    }
    if (sub === 'list') return print(c, await listRollouts(db, c.fleet), () => '');
    if (sub === 'status') {
      const s = await rolloutStatus(db, c.fleet, id);
      return print(c, s, () => `rollout ${id}: ${String(s.state)}, wave ${String(s.wave)} (${String(s.phase)}), ${String(s.devices_on_new_version)} devices on the new version\n${(s.decisions as { n: number; at: string; kind: string; reason: string }[]).map((d) => `  ${d.n}. ${d.at} ${d.kind}: ${d.reason}`).join('\n')}\n`);
    }
    if (sub === 'pause' || sub === 'resume' || sub === 'abort' || sub === 'rollback') {
      const sign = sub === 'rollback' ? { fleet: c.fleet, key: loadSigningKey(needKey(c)), issuer: c.issuer } : undefined;
      const r = await operate(db, c.fleet, id, sub, c.issuer, str(f, 'reason') ?? 'operator request', sign);
      return print(c, r, () => `rollout ${id}: ${String(r.state)}\n`);
    }
    throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `rollout ${sub ?? ''}: expected create, list, status, pause, resume, abort or rollback`, 2);
  } finally {
    await db.end();
  }
}

async function inventoryCmd(c: Common, f: Flags, cmd: string, args: string[]): Promise<void> {
  const db = openDb(c.db, 2);
  try {
    await ensureSchema(db);
    if (cmd === 'devices') {
      const rows = await listDevices(db, c.fleet, (f.where as string[] | undefined) ?? []);
      return print(c, rows.map(deviceJson), () => devicesTable(rows));
    }
    if (cmd === 'device') {
      const d = await deviceDetail(db, c.fleet, args[0] ?? '');
      return print(c, d, () => `${JSON.stringify(d, null, 2)}\n`);
    }
    if (args[0] === 'create') {
      const name = args[1] ?? '';
      const devices = str(f, 'devices')?.split(',').filter(Boolean) ?? [];
      const r = await createCohort(db, c.fleet, name, f.dynamic === true ? 'dynamic' : 'static', (f.where as string[] | undefined) ?? [], devices);
      return print(c, r, () => `cohort ${name}: ${String(r.kind)}${Array.isArray(r.members) ? `, ${r.members.length} devices` : ''}\n`);
    }
    if (args[0] === 'list') {
      const r = await listCohorts(db, c.fleet);
      return print(c, r, () => r.map((x) => `${String(x.cohort)}  ${String(x.kind)}  ${String(x.devices)} devices\n`).join(''));
    }
    throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `cohort ${args[0] ?? ''}: expected create or list`, 2);
  } finally {
    await db.end();
  }
}

async function evidenceCmd(f: Flags, args: string[]): Promise<void> {
  const json = f.json === true;
  if (args[0] === 'verify') {
    const file = args[1];
    if (!file) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', 'evidence verify FILE: which pack', 2);
    const r = await verifyEvidence(file, str(f, 'keys'));
    print({ json }, r.report, () => `${file}: ${r.ok ? 'valid' : 'NOT valid'}\n`);
    if (!r.ok) process.exitCode = 6;
    return;
  }
  const c = commonOf(f);
  const db = openDb(c.db, 2);
  try {
    await ensureSchema(db);
    if (args[0] === 'list') return print(c, await listEvidence(db, c.fleet, args[1]), () => '');
    if (args[0] === 'pull') {
      if (!c.publicUrl) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', '--public-url: the address of a controller the device can upload to', 2);
      const r = await pullEvidence(db, c.fleet, { device: args[1] ?? '', broker: c.broker, publicUrl: c.publicUrl, key: loadSigningKey(needKey(c)), issuer: c.issuer, reason: str(f, 'reason') ?? 'fleet evidence pull', waitMs: durationFlag(f, 'wait') ?? 60_000, tls: tlsOptions(c) });
      return print(c, r, () => `${String(r.device)}: ${String(r.state)}${r.file ? ` ${String(r.file)} (${String(r.bytes)} bytes)` : ''}\n`);
    }
    throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `evidence ${args[0] ?? ''}: expected pull, list or verify`, 2);
  } finally {
    await db.end();
  }
}

/** `--min-health-delta -10`: a negative number after an option is its value, not another option. */
function joinNegatives(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = argv[i + 1];
    if (a.startsWith('--') && !a.includes('=') && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

export async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegatives(argv), options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `${(e as Error).message}\n${USAGE}`, 2);
  }
  const f = parsed.values as Flags;
  const [cmd, ...args] = parsed.positionals;
  if (!cmd || f.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  switch (cmd) {
    case 'serve':
      return void (await serve(commonOf(f), f));
    case 'key':
      if (args[0] !== 'new') throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', 'key new --out FILE', 2);
      return keyNew(f, f.json === true);
    case 'devices':
    case 'device':
    case 'cohort':
      return inventoryCmd(commonOf(f), f, cmd, args);
    case 'rollout':
      return rolloutCmd(commonOf(f), f, args);
    case 'evidence':
      return evidenceCmd(f, args);
    default:
      throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `unknown command ${JSON.stringify(cmd)}\n${USAGE}`, 2);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof FleetCtlError) {
    process.stderr.write(`waveos-fleet: ${e.code}: ${e.message}\n`);
    process.exit(e.exitCode);
  }
  process.stderr.write(`waveos-fleet: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
