/*
 * Inventory from the device channels: retained `status` (every device's whole state), `health` (last seen,
 * score), `events` (incidents: error and above) and `cmd/result` (evidence uploads). Every message is checked
 * against its schema and the device's signature before it counts; writes are batched (one statement per
 * channel per flush), and a status only replaces an older one (by seq), so controllers that all subscribe
 * write the same rows without harm.
 *
 * Enrolment is trust on first use: the first valid status of a device enrols the key it is signed with;
 * afterwards a message signed by another key is dropped (the upsert keeps the enrolled key), and counted.
 */
import type { MqttClient } from 'mqtt';
import { MESSAGE_SCHEMAS, parseTopic, type CmdResultBody, type EventsBody, type HealthBody, type StatusBody } from '../daemon/fleet/protocol.js';
import type { Db } from './db.js';
import { verifyWith } from './keys.js';

export interface IngestStats {
  received: number;
  accepted: number;
  /** Statuses written to the database (distinct devices per flush). */
  statusesWritten: number;
  rejected: number;
  rejectedWhy: Record<string, number>;
  flushes: number;
  lastFlushMs: number;
}

interface Row {
  [k: string]: unknown;
}

export class Ingest {
  readonly stats: IngestStats = { received: 0, accepted: 0, statusesWritten: 0, rejected: 0, rejectedWhy: {}, flushes: 0, lastFlushMs: 0 };
  private statusRows = new Map<string, Row>();
  private healthRows = new Map<string, Row>();
  private incidentRows: Row[] = [];
  private resultRows: Row[] = [];
  private keys = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  onFlushed: () => void = () => undefined;

  constructor(
    private readonly db: Db,
    private readonly fleet: string,
    private readonly log: (msg: string) => void,
  ) {}

  async loadKeys(): Promise<void> {
    const r = await this.db.query<{ device_id: string; public_key: string }>('SELECT device_id, public_key FROM fleet_devices WHERE fleet = $1', [this.fleet]);
    for (const row of r.rows) this.keys.set(row.device_id, row.public_key);
  }

  subscribe(client: MqttClient): void {
    const base = `waveos/${this.fleet}/+/`;
    // Statuses are retained: at QoS 0 the broker streams them without a PUBACK round trip each (the initial
    // flood of a whole fleet's statuses), and a lost connection loses none, since resubscribing delivers every
    // retained status again. The rest is not retained and stays at QoS 1.
    client.subscribe(`${base}status`, { qos: 0 });
    client.subscribe([`${base}health`, `${base}events`, `${base}cmd/result`], { qos: 1 });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  private reject(why: string): void {
    this.stats.rejected++;
    this.stats.rejectedWhy[why] = (this.stats.rejectedWhy[why] ?? 0) + 1;
  }

  onMessage(topic: string, payload: Buffer): void {
    this.stats.received++;
    const t = parseTopic(topic);
    if (!t || t.fleet !== this.fleet || t.channel === 'desired' || t.channel === 'cmd') return;
    if (payload.length === 0) return; // a cleared retained status
    let raw: unknown;
    try {
      raw = JSON.parse(payload.toString('utf8'));
    } catch {
      return this.reject('malformed');
    }
    const r = MESSAGE_SCHEMAS[t.channel].safeParse(raw);
    if (!r.success) return this.reject('malformed');
    const m = r.data;
    if (m.device !== t.device || m.fleet !== this.fleet) return this.reject('wrong_topic');
    let key = this.keys.get(m.device);
    if (m.type === 'status') {
      const body = m.body as StatusBody;
      if (!key) key = body.identity.public_key;
      else if (key !== body.identity.public_key) return this.reject('other_key');
    }
    if (!key) return this.reject('unknown_device');
    if (!verifyWith(raw as Record<string, unknown>, key)) return this.reject('bad_signature');
    this.stats.accepted++;
    const lagMs = Math.max(0, Date.now() - Date.parse(m.ts));
    switch (m.type) {
      case 'status':
        this.keys.set(m.device, key);
        this.addStatus(m.device, m.seq, m.key_id, m.body as StatusBody, lagMs);
        break;
      case 'health': {
        const h = m.body as HealthBody;
        this.healthRows.set(m.device, { device_id: m.device, health: h.score, mode: h.mode, lag: lagMs });
        break;
      }
      case 'events':
        for (const e of (m.body as EventsBody).events) {
          if (e.severity === 'error' || e.severity === 'critical') this.incidentRows.push({ device_id: m.device, seq: e.seq, ts: e.ts, kind: e.kind, severity: e.severity, reason: e.reason });
        }
        break;
      case 'cmd/result':
        this.resultRows.push({ device_id: m.device, ...(m.body as CmdResultBody) });
        break;
    }
    this.schedule();
  }

  private addStatus(device: string, seq: number, keyId: string, b: StatusBody, lagMs: number): void {
    const prev = this.statusRows.get(device);
    if (prev && (prev.status_seq as number) >= seq) return;
    this.statusRows.set(device, {
      device_id: device,
      key_id: keyId,
      public_key: b.identity.public_key,
      status: b,
      status_seq: seq,
      waveos_version: b.versions.waveos,
      mode: b.mode.current,
      health: b.health.score,
      tags: b.identity.cohorts,
      bundles: b.versions.bundles,
      desired_seq: b.desired?.seq ?? null,
      desired_state: b.desired?.state ?? null,
      desired_reason: b.desired?.reason ?? null,
      lag: lagMs,
    });
  }

  private schedule(): void {
    if (this.timer) return;
    const pending = this.statusRows.size + this.healthRows.size + this.incidentRows.length + this.resultRows.length;
    this.timer = setTimeout(() => void this.flush(), pending > 2000 ? 0 : 100);
  }

  /** Writes what has been received; one flush at a time, the next picks up what arrived meanwhile. */
  async flush(): Promise<void> {
    if (this.flushing) await this.flushing;
    this.timer = undefined;
    const statuses = [...this.statusRows.values()];
    const health = [...this.healthRows.values()];
    const incidents = this.incidentRows;
    const results = this.resultRows;
    this.statusRows = new Map();
    this.healthRows = new Map();
    this.incidentRows = [];
    this.resultRows = [];
    if (statuses.length + health.length + incidents.length + results.length === 0) return;
    const t0 = Date.now();
    this.flushing = this.write(statuses, health, incidents, results)
      .catch((e: unknown) => {
        this.log(`ingest: writing ${statuses.length} statuses failed, will retry: ${(e as Error).message}`);
        for (const s of statuses) if (!this.statusRows.has(s.device_id as string)) this.statusRows.set(s.device_id as string, s);
        this.schedule();
      })
      .finally(() => {
        this.flushing = undefined;
        this.stats.flushes++;
        this.stats.lastFlushMs = Date.now() - t0;
        this.onFlushed();
      });
    await this.flushing;
  }

  private async write(statuses: Row[], health: Row[], incidents: Row[], results: Row[]): Promise<void> {
    const f = this.fleet;
    // In slices: one statement's JSON parameter stays a few MB, whatever arrived at once.
    for (let i = 0; i < statuses.length; i += 1000) await this.db.query(UPSERT_STATUS, [f, JSON.stringify(statuses.slice(i, i + 1000))]);
    this.stats.statusesWritten += statuses.length;
    for (let i = 0; i < health.length; i += 2000) await this.db.query(UPDATE_HEALTH, [f, JSON.stringify(health.slice(i, i + 2000))]);
    if (incidents.length > 0) await this.db.query(INSERT_INCIDENTS, [f, JSON.stringify(incidents)]);
    for (const r of results) {
      if (r.action !== 'export_evidence' || typeof r.cmd_id !== 'string') continue;
      const data = (r.data ?? {}) as Record<string, unknown>;
      await this.db.query(
        `UPDATE fleet_evidence SET state = CASE WHEN state = 'stored' THEN state ELSE $3 END, reason = $4, file = COALESCE(file, $5) WHERE fleet = $1 AND cmd_id = $2`,
        [f, r.cmd_id, r.outcome === 'succeeded' ? 'uploaded' : 'failed', r.reason, typeof data.file === 'string' ? data.file : null],
      );
    }
  }
}

const UPSERT_STATUS = `
INSERT INTO fleet_devices AS d (fleet, device_id, key_id, public_key, status, status_seq, status_at, last_seen, waveos_version, mode, health, tags, bundles, desired_seq, desired_state, desired_reason, link_lag_ms)
SELECT $1, r.device_id, r.key_id, r.public_key, r.status, r.status_seq, now(), now(), r.waveos_version, r.mode, r.health, ARRAY(SELECT jsonb_array_elements_text(r.tags)), r.bundles, r.desired_seq, r.desired_state, r.desired_reason, r.lag
FROM jsonb_to_recordset($2::jsonb) AS r(device_id text, key_id text, public_key text, status jsonb, status_seq bigint, waveos_version text, mode text, health double precision, tags jsonb, bundles jsonb, desired_seq bigint, desired_state text, desired_reason text, lag double precision)
ON CONFLICT (fleet, device_id) DO UPDATE SET
  status = excluded.status, status_seq = excluded.status_seq, status_at = now(), last_seen = now(), waveos_version = excluded.waveos_version,
  mode = excluded.mode, health = excluded.health, tags = excluded.tags, bundles = excluded.bundles, desired_seq = excluded.desired_seq,
  desired_state = excluded.desired_state, desired_reason = excluded.desired_reason, link_lag_ms = excluded.link_lag_ms
WHERE d.public_key = excluded.public_key AND (d.status_seq < excluded.status_seq OR d.status_at IS NULL)`;

const UPDATE_HEALTH = `
UPDATE fleet_devices AS d SET health = COALESCE(r.health, d.health), mode = r.mode, last_seen = now(), link_lag_ms = r.lag
FROM jsonb_to_recordset($2::jsonb) AS r(device_id text, health double precision, mode text, lag double precision)
WHERE d.fleet = $1 AND d.device_id = r.device_id`;

const INSERT_INCIDENTS = `
INSERT INTO fleet_incidents (fleet, device_id, seq, ts, kind, severity, reason)
SELECT $1, r.device_id, r.seq, r.ts, r.kind, r.severity, r.reason FROM jsonb_to_recordset($2::jsonb) AS r(device_id text, seq bigint, ts text, kind text, severity text, reason text)
ON CONFLICT DO NOTHING`;
