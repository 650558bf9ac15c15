/*
 * The controller's records in PostgreSQL. Every controller process is stateless: what it knows between two
 * requests is here, so several run side by side on one database. The schema is created (idempotently, under
 * an advisory lock so two controllers starting at once do not race) by the first controller to start.
 */
import pg from 'pg';

export type Db = pg.Pool;

export function openDb(url: string, max = 4): Db {
  const pool = new pg.Pool({ connectionString: url, max, idleTimeoutMillis: 30_000 });
  // A dropped connection (database restarted) is an error on the idle client: log-worthy, never fatal.
  pool.on('error', () => undefined);
  return pool;
}

/** Advisory lock namespace (the first key of the two-key form) of the controller: "WAVF". */
export const LOCK_NS = 0x57415646;
/** The second key for the schema migration; rollouts use their own id (always > 0). */
const MIGRATE_LOCK = 0;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS fleet_devices (
  fleet text NOT NULL,
  device_id text NOT NULL,
  key_id text NOT NULL,
  public_key text NOT NULL,
  enrolled_at timestamptz NOT NULL DEFAULT now(),
  status jsonb,
  status_seq bigint NOT NULL DEFAULT -1,
  status_at timestamptz,
  last_seen timestamptz,
  waveos_version text,
  mode text,
  health double precision,
  tags text[] NOT NULL DEFAULT '{}',
  bundles jsonb NOT NULL DEFAULT '{}',
  desired_seq bigint,
  desired_state text,
  desired_reason text,
  link_lag_ms double precision,
  PRIMARY KEY (fleet, device_id)
);
CREATE INDEX IF NOT EXISTS fleet_devices_tags ON fleet_devices USING gin (tags);
CREATE TABLE IF NOT EXISTS fleet_incidents (
  fleet text NOT NULL, device_id text NOT NULL, seq bigint NOT NULL, ts text NOT NULL,
  kind text NOT NULL, severity text NOT NULL, reason text NOT NULL,
  PRIMARY KEY (fleet, device_id, seq)
);
CREATE TABLE IF NOT EXISTS fleet_cohorts (
  fleet text NOT NULL, name text NOT NULL, kind text NOT NULL CHECK (kind IN ('static','dynamic')),
  selector jsonb NOT NULL, members text[] NOT NULL DEFAULT '{}', created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (fleet, name)
);
CREATE SEQUENCE IF NOT EXISTS fleet_seq;
CREATE TABLE IF NOT EXISTS fleet_desired (
  fleet text NOT NULL, device_id text NOT NULL, seq bigint NOT NULL, body jsonb NOT NULL,
  doc text NOT NULL, published boolean NOT NULL DEFAULT false, rollout_id bigint, updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (fleet, device_id)
);
CREATE INDEX IF NOT EXISTS fleet_desired_unpublished ON fleet_desired (fleet) WHERE NOT published;
CREATE TABLE IF NOT EXISTS fleet_rollouts (
  id bigserial PRIMARY KEY, fleet text NOT NULL, cohort text NOT NULL, bundle jsonb NOT NULL, plan jsonb NOT NULL,
  state text NOT NULL, wave int NOT NULL DEFAULT 0, phase text NOT NULL DEFAULT 'dispatch',
  phase_since timestamptz NOT NULL DEFAULT now(), version bigint NOT NULL DEFAULT 0,
  created_by text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS fleet_rollout_devices (
  rollout_id bigint NOT NULL REFERENCES fleet_rollouts(id), device_id text NOT NULL, wave int NOT NULL,
  state text NOT NULL DEFAULT 'pending', desired_seq bigint, prev_body jsonb, health_before double precision,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX IF NOT EXISTS fleet_rollout_devices_wave ON fleet_rollout_devices (rollout_id, wave);
CREATE TABLE IF NOT EXISTS fleet_decisions (
  rollout_id bigint NOT NULL REFERENCES fleet_rollouts(id), n int NOT NULL, at timestamptz NOT NULL DEFAULT now(),
  kind text NOT NULL, reason text NOT NULL, numbers jsonb NOT NULL, controller text NOT NULL,
  PRIMARY KEY (rollout_id, n)
);
CREATE TABLE IF NOT EXISTS fleet_evidence (
  fleet text NOT NULL, device_id text NOT NULL, cmd_id text NOT NULL, file text, bytes bigint, sha256 text,
  state text NOT NULL, reason text, requested_at timestamptz NOT NULL DEFAULT now(), stored_at timestamptz,
  PRIMARY KEY (fleet, cmd_id)
);
`;

/** For the commands: creates the schema only when it is not there (a command never takes the DDL locks a running fleet's writes would wait behind). */
export async function ensureSchema(db: Db): Promise<void> {
  const r = await db.query<{ t: string | null }>("SELECT to_regclass('fleet_evidence') AS t");
  if (!r.rows[0]?.t) await migrate(db);
}

export async function migrate(db: Db): Promise<void> {
  const c = await db.connect();
  try {
    await c.query('SELECT pg_advisory_lock($1, $2)', [LOCK_NS, MIGRATE_LOCK]);
    await c.query(SCHEMA);
  } finally {
    await c.query('SELECT pg_advisory_unlock($1, $2)', [LOCK_NS, MIGRATE_LOCK]).catch(() => undefined);
    c.release();
  }
}

export async function tx<T>(db: Db, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await db.connect();
  try {
    await c.query('BEGIN');
    const r = await fn(c);
    await c.query('COMMIT');
    return r;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}
