/*
 * `rollout create|list|status|pause|resume|abort|rollback`. A command changes a rollout in one transaction
 * that bumps its version and records a decision with the operator's name, so it never races the leader's
 * own decisions (the leader's update is guarded by the version it read).
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { list as listTar } from 'tar';
import { type Db, tx } from './db.js';
import { type RolloutRow, type SignCtx, recordDecision, rollbackWave, rolloutOf, waveNumbers } from './engine.js';
import { cohortMembers } from './inventory.js';
import { FleetCtlError } from './keys.js';
import { type Plan, planSchema, waveSizes } from './plan.js';

export interface BundleInfo {
  name: string;
  version: string;
  kind: string;
  sha256: string;
  size: number;
}

/** Reads name, version and kind from the bundle's manifest.json (docs/formats/bundle.md). */
export async function readBundleInfo(file: string): Promise<BundleInfo> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new FleetCtlError('WAVEOS_E_FLEET_BUNDLE', `${file}: ${(e as Error).message}`, 2);
  }
  const chunks: Buffer[] = [];
  try {
    await listTar({ file, onReadEntry: (entry) => (entry.path === 'manifest.json' ? entry.on('data', (b: Buffer) => chunks.push(b)) : entry.resume()) });
  } catch (e) {
    throw new FleetCtlError('WAVEOS_E_FLEET_BUNDLE', `${file}: not a bundle archive: ${(e as Error).message}`, 2);
  }
  let m: { name?: unknown; version?: unknown; kind?: unknown };
  try {
    m = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof m;
  } catch {
    throw new FleetCtlError('WAVEOS_E_FLEET_BUNDLE', `${file}: manifest.json is missing or not JSON`, 2);
  }
  if (typeof m.name !== 'string' || typeof m.version !== 'string') throw new FleetCtlError('WAVEOS_E_FLEET_BUNDLE', `${file}: manifest.json has no name and version`, 2);
  return { name: m.name, version: m.version, kind: typeof m.kind === 'string' ? m.kind : 'app', sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
}

export interface CreateInput {
  bundleFile: string;
  url: string | undefined;
  publicUrl: string | undefined;
  store: string;
  cohort: string;
  plan: Partial<Plan>;
  by: string;
}

export async function createRollout(db: Db, fleet: string, i: CreateInput): Promise<Record<string, unknown>> {
  const plan = planSchema.parse(i.plan);
  if (plan.waves.at(-1) !== '100%') throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `--waves ${plan.waves.join(',')}: the last wave must be 100%`, 2);
  const b = await readBundleInfo(i.bundleFile);
  let url = i.url;
  if (!url) {
    if (!i.publicUrl) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', 'give --url (where devices download the bundle) or --public-url (a controller\'s address: the controller serves the bundle from its store)', 2);
    const dir = join(i.store, 'bundles');
    mkdirSync(dir, { recursive: true });
    const dest = join(dir, `${b.sha256}.wbundle`);
    copyFileSync(i.bundleFile, `${dest}.part`);
    renameSync(`${dest}.part`, dest);
    url = `${i.publicUrl.replace(/\/$/, '')}/bundles/${b.sha256}.wbundle`;
  }
  const members = await cohortMembers(db, fleet, i.cohort);
  if (members.length === 0) throw new FleetCtlError('WAVEOS_E_FLEET_EMPTY_COHORT', `cohort ${i.cohort} has no devices`, 3);
  const salt = randomBytes(8).toString('hex');
  const order = members.map((d) => ({ d, h: createHash('sha256').update(salt + d).digest('hex') })).sort((x, y) => (x.h < y.h ? -1 : 1));
  const sizes = waveSizes(plan, order.length);
  const assign = order.map((x, idx) => ({ device_id: x.d, wave: sizes.findIndex((s) => idx < s) }));
  const bundle = { ...b, url };
  return tx(db, async (c) => {
    const open = await c.query('SELECT id FROM fleet_rollouts WHERE fleet = $1 AND state IN (\'running\', \'paused\') AND bundle ->> \'name\' = $2', [fleet, b.name]);
    if (open.rowCount) throw new FleetCtlError('WAVEOS_E_FLEET_ROLLOUT_OPEN', `rollout ${String(open.rows[0]?.id)} of ${b.name} is still open: finish, abort or let it halt first`, 4);
    const r = await c.query<{ id: string }>('INSERT INTO fleet_rollouts (fleet, cohort, bundle, plan, state, created_by) VALUES ($1, $2, $3, $4, \'running\', $5) RETURNING id', [fleet, i.cohort, JSON.stringify(bundle), JSON.stringify(plan), i.by]);
    const id = String(r.rows[0]?.id);
    await c.query('INSERT INTO fleet_rollout_devices (rollout_id, device_id, wave) SELECT $1, x.device_id, x.wave FROM jsonb_to_recordset($2::jsonb) AS x(device_id text, wave int)', [id, JSON.stringify(assign)]);
    const numbers = { devices: members.length, wave_sizes: sizes.map((s, k) => s - (sizes[k - 1] ?? 0)), cumulative: sizes, plan };
    await recordDecision(c, id, 'created', `${b.name} ${b.version} to cohort ${i.cohort} (${members.length} devices) in ${sizes.length} waves: ${numbers.wave_sizes.join(', ')}`, numbers, i.by);
    return { rollout: id, bundle, cohort: i.cohort, devices: members.length, waves: numbers.wave_sizes, plan };
  });
}

async function load(db: Db, fleet: string, id: string): Promise<RolloutRow> {
  if (!/^\d+$/.test(id)) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `rollout id ${JSON.stringify(id)}: expected a number`, 2);
  const r = await db.query('SELECT * FROM fleet_rollouts WHERE fleet = $1 AND id = $2', [fleet, id]);
  if (!r.rows[0]) throw new FleetCtlError('WAVEOS_E_FLEET_NO_ROLLOUT', `no rollout ${id} in fleet ${fleet}`, 3);
  return rolloutOf(r.rows[0] as Record<string, unknown>);
}

export async function rolloutStatus(db: Db, fleet: string, id: string): Promise<Record<string, unknown>> {
  const r = await load(db, fleet, id);
  const n = await waveNumbers(db, r);
  const states = await db.query<{ wave: number; state: string; n: string }>('SELECT wave, state, COUNT(*) AS n FROM fleet_rollout_devices WHERE rollout_id = $1 GROUP BY 1, 2 ORDER BY 1, 2', [r.id]);
  const dec = await db.query('SELECT n, at, kind, reason, numbers, controller FROM fleet_decisions WHERE rollout_id = $1 ORDER BY n', [r.id]);
  const updated = await db.query<{ n: string }>(
    `SELECT COUNT(*) AS n FROM fleet_rollout_devices rd JOIN fleet_devices d ON d.fleet = $2 AND d.device_id = rd.device_id WHERE rd.rollout_id = $1 AND d.bundles -> $3::text ->> 'version' = $4`,
    [r.id, fleet, r.bundle.name, r.bundle.version],
  );
  const waves: Record<string, Record<string, number>> = {};
  for (const s of states.rows) (waves[String(s.wave)] ??= {})[s.state] = Number(s.n);
  return {
    rollout: r.id, state: r.state, wave: r.wave, phase: r.phase, phase_since: r.phase_since.toISOString(), cohort: r.cohort, bundle: r.bundle, plan: r.plan,
    devices_on_new_version: Number(updated.rows[0]?.n ?? 0), current_wave: n, waves,
    decisions: dec.rows.map((d: Record<string, unknown>) => ({ ...d, at: (d.at as Date).toISOString() })),
  };
}

export async function listRollouts(db: Db, fleet: string): Promise<Record<string, unknown>[]> {
  const r = await db.query('SELECT id, state, wave, phase, cohort, bundle, created_at FROM fleet_rollouts WHERE fleet = $1 ORDER BY id', [fleet]);
  return r.rows.map((x: Record<string, unknown>) => ({ rollout: String(x.id), state: x.state, wave: x.wave, phase: x.phase, cohort: x.cohort, bundle: `${(x.bundle as { name: string }).name} ${(x.bundle as { version: string }).version}`, created_at: (x.created_at as Date).toISOString() }));
}

const ALLOWED: Record<string, string[]> = { pause: ['running'], resume: ['paused', 'halted'], abort: ['running', 'paused', 'halted'], rollback: ['running', 'paused', 'halted'] };

/** An operator's pause, resume, abort or rollback, recorded as a decision with the operator's name. */
export async function operate(db: Db, fleet: string, id: string, action: 'pause' | 'resume' | 'abort' | 'rollback', by: string, reason: string, sign?: SignCtx): Promise<Record<string, unknown>> {
  return tx(db, async (c) => {
    const q = await c.query('SELECT * FROM fleet_rollouts WHERE fleet = $1 AND id = $2 FOR UPDATE', [fleet, id]);
    if (!q.rows[0]) throw new FleetCtlError('WAVEOS_E_FLEET_NO_ROLLOUT', `no rollout ${id} in fleet ${fleet}`, 3);
    const r = rolloutOf(q.rows[0] as Record<string, unknown>);
    if (!ALLOWED[action]?.includes(r.state)) throw new FleetCtlError('WAVEOS_E_FLEET_ROLLOUT_STATE', `rollout ${id} is ${r.state}: cannot ${action} it`, 4);
    const next = { pause: 'paused', resume: 'running', abort: 'aborted', rollback: 'halted' }[action];
    const numbers: Record<string, unknown> = { from: r.state, wave: r.wave, phase: r.phase };
    if (action === 'rollback') {
      if (!sign) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', 'rollback signs desired documents: give --key', 2);
      numbers.rolled_back = await rollbackWave(c, sign, r, r.wave);
    }
    // A resumed halt looks at its wave afresh: the soak starts again from now.
    await c.query('UPDATE fleet_rollouts SET state = $2, version = version + 1, phase_since = CASE WHEN $2 = \'running\' THEN now() ELSE phase_since END, updated_at = now() WHERE id = $1', [id, next]);
    const n = await recordDecision(c, id, action === 'rollback' ? 'rolled_back' : `${next}`, `${action} by ${by}: ${reason}${numbers.rolled_back !== undefined ? `; ${String(numbers.rolled_back)} devices of wave ${r.wave} sent their last good desired state` : ''}`, numbers, by);
    return { rollout: id, state: next, decision: n, ...numbers };
  });
}
