/* `devices`, `device ID` and `cohort …`: the inventory as the retained statuses left it in the database. */
import type { Db } from './db.js';
import { FleetCtlError } from './keys.js';
import { whereOf } from './select.js';

export interface DeviceRow {
  device_id: string;
  waveos_version: string | null;
  mode: string | null;
  health: number | null;
  tags: string[];
  bundles: Record<string, { version: string | null; state: string }>;
  last_seen: Date | null;
  desired_seq: string | null;
  desired_state: string | null;
  desired_reason: string | null;
  link_lag_ms: number | null;
}

const COLS = 'device_id, waveos_version, mode, health, tags, bundles, last_seen, desired_seq, desired_state, desired_reason, link_lag_ms';

export async function listDevices(db: Db, fleet: string, where: readonly string[]): Promise<DeviceRow[]> {
  const w = whereOf(where, 2);
  const r = await db.query<DeviceRow>(`SELECT ${COLS} FROM fleet_devices WHERE fleet = $1 AND status IS NOT NULL${w.sql} ORDER BY device_id`, [fleet, ...w.params]);
  return r.rows;
}

export function deviceJson(d: DeviceRow): Record<string, unknown> {
  return {
    device: d.device_id,
    waveos: d.waveos_version,
    mode: d.mode,
    health: d.health,
    tags: d.tags,
    bundles: Object.fromEntries(Object.entries(d.bundles).map(([k, v]) => [k, { version: v.version, state: v.state }])),
    last_seen: d.last_seen?.toISOString() ?? null,
    desired: d.desired_seq === null ? null : { seq: Number(d.desired_seq), state: d.desired_state, reason: d.desired_reason },
    link_lag_ms: d.link_lag_ms === null ? null : Math.round(d.link_lag_ms),
  };
}

export function devicesTable(rows: readonly DeviceRow[]): string {
  const lines = [['DEVICE', 'WAVEOS', 'MODE', 'HEALTH', 'BUNDLES', 'DESIRED', 'LAST SEEN', 'TAGS']];
  for (const d of rows) {
    const bundles = Object.entries(d.bundles).map(([k, v]) => `${k}@${v.version ?? '-'}`).join(',') || '-';
    const ago = d.last_seen ? `${Math.round((Date.now() - d.last_seen.getTime()) / 1000)}s ago` : 'never';
    lines.push([d.device_id, d.waveos_version ?? '-', d.mode ?? '-', d.health === null ? '-' : String(d.health), bundles, d.desired_seq === null ? '-' : `${d.desired_seq} ${d.desired_state ?? ''}`, ago, d.tags.join(',') || '-']);
  }
  const w = lines[0]?.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length))) ?? [];
  return `${lines.map((l) => l.map((c, i) => c.padEnd(w[i] ?? 0)).join('  ').trimEnd()).join('\n')}\n${rows.length} devices\n`;
}

export async function deviceDetail(db: Db, fleet: string, id: string): Promise<Record<string, unknown>> {
  const r = await db.query<DeviceRow & { status: Record<string, unknown>; key_id: string; enrolled_at: Date }>(`SELECT ${COLS}, status, key_id, enrolled_at FROM fleet_devices WHERE fleet = $1 AND device_id = $2`, [fleet, id]);
  const d = r.rows[0];
  if (!d) throw new FleetCtlError('WAVEOS_E_FLEET_NO_DEVICE', `no device ${JSON.stringify(id)} in fleet ${fleet} (waveos-fleet devices lists them)`, 3);
  const inc = await db.query('SELECT seq, ts, kind, severity, reason FROM fleet_incidents WHERE fleet = $1 AND device_id = $2 ORDER BY seq DESC LIMIT 20', [fleet, id]);
  const desired = await db.query<{ seq: string; body: unknown; published: boolean; rollout_id: string | null }>('SELECT seq, body, published, rollout_id FROM fleet_desired WHERE fleet = $1 AND device_id = $2', [fleet, id]);
  return { ...deviceJson(d), key_id: d.key_id, enrolled_at: d.enrolled_at.toISOString(), status: d.status, incidents: inc.rows.map((x: Record<string, unknown>) => ({ ...x, seq: Number(x.seq) })), desired_sent: desired.rows[0] ? { ...desired.rows[0], seq: Number(desired.rows[0].seq) } : null };
}

/** A static cohort keeps the members it had when made; a dynamic one is its filters, evaluated when used. */
export async function createCohort(db: Db, fleet: string, name: string, kind: 'static' | 'dynamic', where: readonly string[], devices: readonly string[]): Promise<Record<string, unknown>> {
  whereOf(where, 2);
  let members: string[] = [...devices];
  if (kind === 'static' && devices.length === 0) members = (await listDevices(db, fleet, where)).map((d) => d.device_id);
  if (kind === 'dynamic' && devices.length > 0) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', 'a dynamic cohort is made of --where filters, not --devices', 2);
  await db.query(
    'INSERT INTO fleet_cohorts (fleet, name, kind, selector, members) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (fleet, name) DO UPDATE SET kind = excluded.kind, selector = excluded.selector, members = excluded.members',
    [fleet, name, kind, JSON.stringify({ where }), members],
  );
  return { cohort: name, kind, where, members: kind === 'static' ? members : null };
}

/** The cohort's devices now; "all" is every device of the fleet. */
export async function cohortMembers(db: Db, fleet: string, name: string): Promise<string[]> {
  if (name === 'all') return (await listDevices(db, fleet, [])).map((d) => d.device_id);
  const r = await db.query<{ kind: string; selector: { where: string[] }; members: string[] }>('SELECT kind, selector, members FROM fleet_cohorts WHERE fleet = $1 AND name = $2', [fleet, name]);
  const c = r.rows[0];
  if (!c) throw new FleetCtlError('WAVEOS_E_FLEET_NO_COHORT', `no cohort ${JSON.stringify(name)} in fleet ${fleet} (waveos-fleet cohort create makes one; "all" is every device)`, 3);
  if (c.kind === 'static') return [...c.members].sort();
  return (await listDevices(db, fleet, c.selector.where)).map((d) => d.device_id);
}

export async function listCohorts(db: Db, fleet: string): Promise<Record<string, unknown>[]> {
  const r = await db.query<{ name: string; kind: string; selector: { where: string[] }; members: string[] }>('SELECT name, kind, selector, members FROM fleet_cohorts WHERE fleet = $1 ORDER BY name', [fleet]);
  const out: Record<string, unknown>[] = [];
  for (const c of r.rows) out.push({ cohort: c.name, kind: c.kind, where: c.selector.where, devices: (await cohortMembers(db, fleet, c.name)).length });
  return out;
}
