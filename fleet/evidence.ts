/*
 * Evidence at fleet scale. `evidence pull DEVICE` signs an `export_evidence` command whose upload URL is a
 * controller's `PUT /evidence/<device>/<cmd id>`; the controller that receives the pack stores it in the
 * store directory (`<store>/evidence/<device>/<cmd id>.tar.gz`, shared by the controllers: a local or network
 * file system) and records it. `evidence verify FILE` checks a pack offline, as `waveos evidence verify` does.
 */
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { topicOf } from '../daemon/fleet/protocol.js';
import type { Db } from './db.js';
import { FleetCtlError, type SigningKey, signWith } from './keys.js';

export interface PullInput {
  device: string;
  broker: string;
  publicUrl: string;
  key: SigningKey;
  issuer: string;
  reason: string;
  waitMs: number;
  tls: Record<string, unknown>;
}

export async function pullEvidence(db: Db, fleet: string, i: PullInput): Promise<Record<string, unknown>> {
  const known = await db.query('SELECT 1 FROM fleet_devices WHERE fleet = $1 AND device_id = $2', [fleet, i.device]);
  if (!known.rowCount) throw new FleetCtlError('WAVEOS_E_FLEET_NO_DEVICE', `no device ${JSON.stringify(i.device)} in fleet ${fleet}`, 3);
  const cmdId = randomUUID();
  await db.query('INSERT INTO fleet_evidence (fleet, device_id, cmd_id, state) VALUES ($1, $2, $3, \'requested\')', [fleet, i.device, cmdId]);
  const seq = Number((await db.query<{ s: string }>('SELECT nextval(\'fleet_seq\') AS s')).rows[0]?.s);
  const now = Date.now();
  const msg = signWith(
    {
      v: 1, type: 'cmd', fleet, target: { device: i.device }, seq, issued_at: new Date(now).toISOString(), expires_at: new Date(now + 3600_000).toISOString(), issuer: i.issuer, key_id: i.key.key_id,
      body: { id: cmdId, action: 'export_evidence', args: { upload: { url: `${i.publicUrl.replace(/\/$/, '')}/evidence/${i.device}/${cmdId}`, method: 'PUT', headers: {} }, reason: i.reason } },
    },
    i.key,
  );
  const client = await mqtt.connectAsync(i.broker, { clientId: `waveos-fleet-cli-${cmdId.slice(0, 8)}`, clean: true, connectTimeout: 10_000, ...i.tls });
  try {
    await client.publishAsync(topicOf(fleet, i.device, 'cmd'), JSON.stringify(msg), { qos: 1 });
  } finally {
    await client.endAsync();
  }
  const end = Date.now() + i.waitMs;
  for (;;) {
    const r = await db.query<{ state: string; file: string | null; bytes: string | null; sha256: string | null; reason: string | null }>('SELECT state, file, bytes, sha256, reason FROM fleet_evidence WHERE fleet = $1 AND cmd_id = $2', [fleet, cmdId]);
    const row = r.rows[0];
    if (row?.state === 'stored') return { device: i.device, cmd_id: cmdId, state: 'stored', file: row.file, bytes: Number(row.bytes), sha256: row.sha256 };
    if (row?.state === 'failed') throw new FleetCtlError('WAVEOS_E_FLEET_EVIDENCE', `${i.device} could not export evidence: ${row.reason ?? 'no reason given'}`, 5);
    if (Date.now() > end) return { device: i.device, cmd_id: cmdId, state: row?.state ?? 'requested', file: null, note: 'not stored yet: the device may be offline (the command waits at the broker); `waveos-fleet evidence list` shows it when it arrives' };
    await new Promise((res) => setTimeout(res, 500));
  }
}

export async function listEvidence(db: Db, fleet: string, device: string | undefined): Promise<Record<string, unknown>[]> {
  const r = await db.query('SELECT device_id, cmd_id, state, file, bytes, sha256, reason, requested_at, stored_at FROM fleet_evidence WHERE fleet = $1 AND ($2::text IS NULL OR device_id = $2) ORDER BY requested_at', [fleet, device ?? null]);
  return r.rows.map((x: Record<string, unknown>) => ({ ...x, bytes: x.bytes === null ? null : Number(x.bytes) }));
}

/** Offline check of a pack: the daemon's own verifier (signature, manifest, hash chain). */
export async function verifyEvidence(file: string, keysDir: string | undefined): Promise<{ ok: boolean; report: unknown }> {
  const { verifyPack } = await import('../daemon/evidence/verify.js');
  const report = await verifyPack(file, keysDir ? { keysDir } : {});
  return { ok: (report as { ok?: boolean }).ok === true, report };
}
