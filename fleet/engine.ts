/*
 * The rollout engine: one leader per rollout, chosen by a PostgreSQL advisory lock held on the controller's
 * own session (a killed controller's session ends, its locks go, and the next controller's tick takes them).
 * The leader gathers its current wave's numbers, asks plan.decide(), and records the decision with its
 * effects (signed desired documents) in one transaction guarded by the rollout's version, so a decision is
 * made once: never twice, never lost. Publishing the documents happens after commit (publisher.ts) and is
 * idempotent, so a crash between the two only delays it.
 */
import type pg from 'pg';
import { type DesiredBody } from '../daemon/fleet/protocol.js';
import { type Db, LOCK_NS, tx } from './db.js';
import { type SigningKey, signWith } from './keys.js';
import { type Decision, type Phase, type Plan, planSchema, decide, type WaveNumbers } from './plan.js';

export interface RolloutRow {
  id: string;
  fleet: string;
  cohort: string;
  bundle: { name: string; version: string; url: string; sha256: string; size: number; kind: string };
  plan: Plan;
  state: string;
  wave: number;
  phase: Phase;
  phase_since: Date;
  version: string;
}

export interface SignCtx {
  fleet: string;
  key: SigningKey;
  issuer: string;
}

const DAY = 86_400_000;
/** Desired documents are retained: valid for 29 days (the protocol allows 30), re-signed by `desired resign`. */
const DESIRED_LIFETIME_MS = 29 * DAY;

export function signDesired(ctx: SignCtx, device: string, seq: number, body: DesiredBody, nowMs = Date.now()): string {
  const unsigned = {
    v: 1,
    type: 'desired',
    fleet: ctx.fleet,
    target: { device },
    seq,
    issued_at: new Date(nowMs).toISOString(),
    expires_at: new Date(nowMs + DESIRED_LIFETIME_MS).toISOString(),
    issuer: ctx.issuer,
    key_id: ctx.key.key_id,
    body,
  };
  return JSON.stringify(signWith(unsigned, ctx.key));
}

/** Writes new desired documents (one per device) with fresh seqs, unpublished; returns the seq per device. */
export async function writeDesired(c: pg.PoolClient, ctx: SignCtx, rolloutId: string | null, bodies: Map<string, DesiredBody>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (bodies.size === 0) return out;
  const seqs = await c.query<{ s: string }>('SELECT nextval(\'fleet_seq\') AS s FROM generate_series(1, $1)', [bodies.size]);
  const rows: { device_id: string; seq: number; body: DesiredBody; doc: string }[] = [];
  let i = 0;
  const now = Date.now();
  for (const [device, body] of bodies) {
    const seq = Number(seqs.rows[i++]?.s);
    out.set(device, seq);
    rows.push({ device_id: device, seq, body, doc: signDesired(ctx, device, seq, body, now) });
  }
  await c.query(
    `INSERT INTO fleet_desired (fleet, device_id, seq, body, doc, published, rollout_id, updated_at)
     SELECT $1, r.device_id, r.seq, r.body, r.doc, false, $3, now() FROM jsonb_to_recordset($2::jsonb) AS r(device_id text, seq bigint, body jsonb, doc text)
     ON CONFLICT (fleet, device_id) DO UPDATE SET seq = excluded.seq, body = excluded.body, doc = excluded.doc, published = false, rollout_id = excluded.rollout_id, updated_at = now()`,
    [ctx.fleet, JSON.stringify(rows), rolloutId],
  );
  return out;
}

export async function recordDecision(c: pg.PoolClient, rolloutId: string, kind: string, reason: string, numbers: Record<string, unknown>, controller: string): Promise<number> {
  const r = await c.query<{ n: number }>(
    `INSERT INTO fleet_decisions (rollout_id, n, kind, reason, numbers, controller)
     SELECT $1, COALESCE(MAX(n), 0) + 1, $2, $3, $4, $5 FROM fleet_decisions WHERE rollout_id = $1 RETURNING n`,
    [rolloutId, kind, reason, JSON.stringify(numbers), controller],
  );
  return Number(r.rows[0]?.n);
}

/** Sends the wave's devices the rollout's bundle on top of their current desired state. */
async function dispatchWave(c: pg.PoolClient, ctx: SignCtx, r: RolloutRow, wave: number): Promise<number> {
  const devs = await c.query<{ device_id: string; body: DesiredBody | null; health: number | null }>(
    `SELECT rd.device_id, fd.body, d.health FROM fleet_rollout_devices rd
       LEFT JOIN fleet_desired fd ON fd.fleet = $2 AND fd.device_id = rd.device_id
       LEFT JOIN fleet_devices d ON d.fleet = $2 AND d.device_id = rd.device_id
     WHERE rd.rollout_id = $1 AND rd.wave = $3 AND rd.state = 'pending'`,
    [r.id, r.fleet, wave],
  );
  const bodies = new Map<string, DesiredBody>();
  const b = r.bundle;
  for (const d of devs.rows) {
    const prev = d.body ?? { bundles: {}, maintenance_windows: [] };
    bodies.set(d.device_id, { ...prev, bundles: { ...prev.bundles, [b.name]: { version: b.version, url: b.url, sha256: b.sha256, size: b.size } } });
  }
  const seqs = await writeDesired(c, ctx, r.id, bodies);
  const rows = devs.rows.map((d) => ({ device_id: d.device_id, seq: seqs.get(d.device_id), prev: d.body, health: d.health }));
  await c.query(
    `UPDATE fleet_rollout_devices rd SET state = 'sent', desired_seq = x.seq, prev_body = x.prev, health_before = x.health, updated_at = now()
     FROM jsonb_to_recordset($2::jsonb) AS x(device_id text, seq bigint, prev jsonb, health double precision)
     WHERE rd.rollout_id = $1 AND rd.device_id = x.device_id`,
    [r.id, JSON.stringify(rows)],
  );
  return devs.rowCount ?? 0;
}

/** Puts a wave's devices back on the desired state they had before the rollout (without the bundle when they had none). */
export async function rollbackWave(c: pg.PoolClient, ctx: SignCtx, r: RolloutRow, wave: number): Promise<number> {
  const devs = await c.query<{ device_id: string; prev_body: DesiredBody | null; body: DesiredBody | null }>(
    `SELECT rd.device_id, rd.prev_body, fd.body FROM fleet_rollout_devices rd LEFT JOIN fleet_desired fd ON fd.fleet = $2 AND fd.device_id = rd.device_id
     WHERE rd.rollout_id = $1 AND rd.wave = $3 AND rd.state = 'sent'`,
    [r.id, r.fleet, wave],
  );
  const bodies = new Map<string, DesiredBody>();
  for (const d of devs.rows) {
    if (d.prev_body) bodies.set(d.device_id, d.prev_body);
    else {
      const { [r.bundle.name]: _dropped, ...rest } = d.body?.bundles ?? {};
      bodies.set(d.device_id, { ...(d.body ?? { maintenance_windows: [] }), bundles: rest });
    }
  }
  const seqs = await writeDesired(c, ctx, r.id, bodies);
  await c.query(
    `UPDATE fleet_rollout_devices rd SET state = 'rolled_back', desired_seq = x.seq, updated_at = now()
     FROM jsonb_to_recordset($2::jsonb) AS x(device_id text, seq bigint) WHERE rd.rollout_id = $1 AND rd.device_id = x.device_id`,
    [r.id, JSON.stringify([...seqs].map(([device_id, seq]) => ({ device_id, seq })))],
  );
  return seqs.size;
}

const WAVE_NUMBERS = `
WITH w AS (
  SELECT rd.wave, rd.state, rd.health_before, d.health, d.last_seen,
    (d.desired_seq >= rd.desired_seq AND d.desired_state = 'applied' AND d.bundles -> $3::text ->> 'version' = $4) AS ok,
    (d.desired_seq >= rd.desired_seq AND d.desired_state = 'failed') AS bad,
    (d.last_seen IS NULL OR d.last_seen < now() - make_interval(secs => $5::double precision / 1000)) AS off
  FROM fleet_rollout_devices rd LEFT JOIN fleet_devices d ON d.fleet = $6 AND d.device_id = rd.device_id
  WHERE rd.rollout_id = $1
)
SELECT
  (SELECT MAX(wave) + 1 FROM w) AS waves,
  COUNT(*) FILTER (WHERE wave = $2) AS size,
  COUNT(*) FILTER (WHERE wave = $2 AND ok) AS applied,
  COUNT(*) FILTER (WHERE wave = $2 AND bad) AS failed,
  COUNT(*) FILTER (WHERE wave = $2 AND NOT COALESCE(ok, false) AND NOT COALESCE(bad, false) AND off) AS offline,
  AVG(health) FILTER (WHERE wave = $2 AND ok AND NOT off) AS health_wave,
  AVG(health) FILTER (WHERE wave > $2 AND NOT off) AS health_control,
  COUNT(*) FILTER (WHERE wave > $2 AND NOT off AND health IS NOT NULL) AS control_n,
  AVG(health_before) FILTER (WHERE wave = $2) AS health_before
FROM w`;

export async function waveNumbers(db: Db | pg.PoolClient, r: RolloutRow): Promise<WaveNumbers> {
  const q = await db.query<Record<string, string | null>>(WAVE_NUMBERS, [r.id, r.wave, r.bundle.name, r.bundle.version, r.plan.offline_after_ms, r.fleet]);
  const x = q.rows[0] ?? {};
  const num = (k: string): number => Number(x[k] ?? 0);
  const maybe = (k: string): number | null => (x[k] === null || x[k] === undefined ? null : Math.round(Number(x[k]) * 10) / 10);
  const size = num('size');
  const applied = num('applied');
  const failed = num('failed');
  const offline = num('offline');
  return { wave: r.wave, waves: num('waves'), size, applied, failed, offline, pending: Math.max(0, size - applied - failed - offline), health_wave: maybe('health_wave'), health_control: maybe('health_control'), control_n: num('control_n'), health_before: maybe('health_before') };
}

export function rolloutOf(row: Record<string, unknown>): RolloutRow {
  return { ...(row as unknown as RolloutRow), id: String(row.id), version: String(row.version), plan: planSchema.parse(row.plan) };
}

export interface EngineDeps {
  db: Db;
  lockClient: pg.Client;
  ctx: SignCtx;
  controller: string;
  log: (msg: string) => void;
  /** Called after a decision that wrote desired documents. */
  kick: () => void;
  onDecision?: (rolloutId: string, d: Decision) => void;
}

export class Engine {
  private held = new Set<string>();
  private running = false;
  decisions = 0;

  constructor(private readonly d: EngineDeps) {}

  get leading(): readonly string[] {
    return [...this.held];
  }

  /** One pass: take the locks of running rollouts nobody leads, decide for those led here. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const active = await this.d.db.query('SELECT * FROM fleet_rollouts WHERE fleet = $1 AND state = \'running\' ORDER BY id', [this.d.ctx.fleet]);
      const ids = new Set(active.rows.map((r) => String(r.id)));
      for (const id of [...this.held]) {
        if (ids.has(id)) continue;
        await this.d.lockClient.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_NS, id]);
        this.held.delete(id);
      }
      for (const row of active.rows) {
        const r = rolloutOf(row);
        if (!this.held.has(r.id)) {
          const got = await this.d.lockClient.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [LOCK_NS, r.id]);
          if (!got.rows[0]?.ok) continue;
          this.held.add(r.id);
          this.d.log(`rollout ${r.id}: this controller (${this.d.controller}) leads it`);
        }
        await this.step(r);
      }
    } finally {
      this.running = false;
    }
  }

  /** Decides until nothing changes (a dispatch is followed at once by the next look). */
  private async step(first: RolloutRow): Promise<void> {
    let r: RolloutRow | undefined = first;
    for (let i = 0; r && i < 4; i++) {
      const n = await waveNumbers(this.d.db, r);
      const dec = decide(r.plan, { wave: r.wave, phase: r.phase, phaseSinceMs: r.phase_since.getTime(), nowMs: Date.now() }, n);
      if (!dec) return;
      r = await this.apply(r, dec);
    }
  }

  private async apply(r: RolloutRow, dec: Decision): Promise<RolloutRow | undefined> {
    const out = await tx(this.d.db, async (c) => {
      const u = await c.query(
        `UPDATE fleet_rollouts SET state = $3, wave = $4, phase = $5, phase_since = now(), version = version + 1, updated_at = now()
         WHERE id = $1 AND version = $2 AND state = 'running' RETURNING *`,
        [r.id, r.version, dec.next.state, dec.next.wave, dec.next.phase],
      );
      if (u.rowCount !== 1) return undefined; // decided elsewhere (an operator's pause, or another leader): look again next tick
      const extra: Record<string, unknown> = {};
      if (dec.effect === 'dispatch') extra.sent = await dispatchWave(c, this.d.ctx, r, dec.next.wave);
      if (dec.effect === 'rollback') extra.rolled_back = await rollbackWave(c, this.d.ctx, r, r.wave);
      await recordDecision(c, r.id, dec.kind, dec.reason + (extra.rolled_back !== undefined ? `; ${String(extra.rolled_back)} devices put back on their last good desired state` : ''), { ...dec.numbers, ...extra }, this.d.controller);
      if (dec.effect === 'rollback') await recordDecision(c, r.id, 'rolled_back', `wave ${r.wave}: ${String(extra.rolled_back)} devices sent their last good desired state`, { wave: r.wave, devices: extra.rolled_back }, this.d.controller);
      return rolloutOf(u.rows[0] as Record<string, unknown>);
    });
    if (!out) return undefined;
    this.decisions++;
    this.d.log(`rollout ${r.id}: ${dec.kind}: ${dec.reason}`);
    this.d.onDecision?.(r.id, dec);
    if (dec.effect !== 'none') this.d.kick();
    return out.state === 'running' ? out : undefined;
  }
}
