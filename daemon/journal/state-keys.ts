import { z } from 'zod';
import { MODES, WaveosError, errorMessage } from '../core/index.js';

/*
 * Every key the daemon keeps in the journal's `state` table, with the schema of its stored value (JSON).
 * The schemas only check, they never transform: a value that passes is handed back exactly as stored, so fields
 * a newer WaveOS added survive a read-modify-write by an older one (a rollback). Read and write them through
 * JournalReader.readState and Journal.writeState / writeStates / appendDurableWritingStates.
 */

export const MODE_KEY = 'mode.current';
export const DEGRADED_FEATURES_KEY = 'features.degraded';
export const CURRENT_RUN_KEY = 'run.current';
export const CONFIG_HASH_KEY = 'config.hash';
export const CHILDREN_KEY = 'services.children';
export const HOLDS_KEY = 'services.holds';
export const BUNDLES_ACTIVE_KEY = 'bundles.active';
export const BUNDLES_HISTORY_KEY = 'bundles.history';
export const BUNDLES_FAILURES_KEY = 'bundles.failures';
export const BUNDLES_SEQ_KEY = 'bundles.seq';
export const LAUNCHER_NOTE_KEY = 'bundles.launcher_rollback';
export const REBOOTS_KEY = 'recovery.reboots';
export const ARTIFACTS_CURSOR_KEY = 'artifacts.cursor';
export const EVIDENCE_PENDING_KEY = 'evidence.pending_incident';
export const EVIDENCE_INCIDENTS_KEY = 'evidence.incident_log';
export const LAST_GOOD_KEY = 'policy.last_good';
export const BREAKERS_KEY = 'policy.breakers';

/** The bundle module's kinds and install states, as stored (the journal may not import bundles; a test keeps them equal). */
export const STORED_BUNDLE_KINDS = ['app', 'config', 'certs', 'policy', 'waveos'] as const;
export const STORED_INSTALL_STATES = ['received', 'verified', 'staged', 'activated', 'trial', 'committed', 'rejected', 'rolled_back', 'failed'] as const;

/** The run that is (or was last) going: what the next start compares its boot and pid with. */
export const runRecordSchema = z.object({ run_id: z.string(), boot_id: z.string(), started_at: z.string(), pid: z.number() });

/** A running child the supervisor recorded, so the next start can find it after a crash. */
export const childRecordSchema = z.object({ pid: z.number(), start_time: z.string(), run_id: z.string(), started_at: z.string() });

/** What keeps a service from being started until an operator starts it. */
export const holdSchema = z.object({ kind: z.enum(['operator', 'failed']), reason: z.string(), since: z.string() });

/** One bundle install, from the file taken in to its end. */
export const installRecordSchema = z.object({
  install_id: z.string(),
  source: z.string(),
  file: z.string(),
  origin: z.enum(['api', 'inbox']),
  requested_by: z.string(),
  state: z.enum(STORED_INSTALL_STATES),
  bundle_id: z.string().optional(),
  kind: z.enum(STORED_BUNDLE_KINDS).optional(),
  name: z.string().optional(),
  version: z.string().optional(),
  rollback_to: z.string().nullable().optional(),
  trial_starts: z.number(),
  intent_id: z.number().optional(),
  reason: z.string().optional(),
  check: z.string().optional(),
  received_at: z.string(),
  finished_at: z.string().optional(),
  history: z.array(z.object({ state: z.enum(STORED_INSTALL_STATES), ts: z.string() })),
});

/** The launcher's note that it rolled a WaveOS bundle back before the daemon came up. */
export const launcherNoteSchema = z.object({ bundle_id: z.string(), starts: z.number(), ts: z.string() });

/** A reboot the recovery ladder asked for; wall time (ms), since monotonic time restarts at every boot. */
export const rebootRecordSchema = z.object({ at: z.number(), service: z.string().nullable(), reason: z.string() });

/** How far the artifact exporter got: events and samples by id, files by byte offset. */
/**
 * `metrics_id`: the last sealed chunk exported (every chunk up to it is in metrics.csv); `metric_heads`: per
 * series id, the first timestamp of its head chunk and how many of its samples are exported.
 */
export const exportCursorSchema = z.object({
  events_seq: z.number(),
  metrics_id: z.number(),
  metric_heads: z.record(z.string(), z.tuple([z.number(), z.number()])).optional(),
  files: z.record(z.string(), z.number()),
});

/** An incident export waiting out its delay (it survives a restart). */
export const pendingIncidentSchema = z.object({
  reason: z.string(),
  since_ms: z.number(),
  until_ms: z.number(),
  requested_by: z.string(),
  incidents: z.array(z.record(z.string(), z.unknown())),
  coalesced: z.number(),
  boot_id: z.string(),
  due_mono: z.number(),
  due_wall: z.number(),
});

/** When an incident export was asked for: the rate limit counts these. */
export const incidentMarkSchema = z.object({ boot_id: z.string(), mono: z.number(), wall: z.number() });

/** The last policy that loaded, so a broken change at start still leaves a policy in force. */
export const storedPolicySchema = z.object({ version: z.string(), files: z.array(z.object({ name: z.string(), file: z.string(), text: z.string() })) });

/** Circuit breakers as they stood, in wall-clock ms: restored at start so cool-downs and the return to the earlier mode survive a restart. */
export const storedBreakersSchema = z.array(
  z.object({
    rule_id: z.string(),
    spec: z.string(),
    phase: z.enum(['closed', 'open', 'half_open']),
    opened_at: z.number(),
    half_open_at: z.number(),
    previous_mode: z.string().nullable(),
    trips: z.number().int().nonnegative(),
    failures: z.array(z.number()),
  }),
);

/** The fleet link's progress: events acknowledged by the broker, the fleet seqs accepted, the last desired state. */
export const FLEET_STATE_KEY = 'fleet.state';
const seqStateSchema = z.object({ last: z.number().int().nonnegative(), recent: z.array(z.string()) });
export const fleetStateSchema = z.object({
  events_cursor: z.number().int().nonnegative(),
  seq: z.object({ desired: seqStateSchema, cmd: seqStateSchema }),
  desired: z.object({ seq: z.number(), state: z.string(), reason: z.string(), at: z.string(), issuer: z.string() }).nullable(),
  last_sync: z.string().nullable(),
  /** The config and policy revisions of the desired states that reached `applied` (null: none applied carried one). Absent in state written before it existed. */
  applied: z.object({ seq: z.number(), config_revision: z.string().nullable(), policy_revision: z.string().nullable(), at: z.string() }).nullable().default(null),
});
export type FleetStateValue = z.output<typeof fleetStateSchema>;

export const STATE_KEYS = {
  [MODE_KEY]: z.enum(MODES),
  [DEGRADED_FEATURES_KEY]: z.record(z.string(), z.string()),
  [CURRENT_RUN_KEY]: runRecordSchema,
  [CONFIG_HASH_KEY]: z.string(),
  [CHILDREN_KEY]: z.record(z.string(), childRecordSchema),
  [HOLDS_KEY]: z.record(z.string(), holdSchema),
  [BUNDLES_ACTIVE_KEY]: installRecordSchema.nullable(),
  [BUNDLES_HISTORY_KEY]: z.array(installRecordSchema),
  [BUNDLES_FAILURES_KEY]: z.record(z.string(), z.number()),
  [BUNDLES_SEQ_KEY]: z.number(),
  [LAUNCHER_NOTE_KEY]: launcherNoteSchema.nullable(),
  [REBOOTS_KEY]: z.array(rebootRecordSchema),
  [ARTIFACTS_CURSOR_KEY]: exportCursorSchema,
  [EVIDENCE_PENDING_KEY]: pendingIncidentSchema,
  [EVIDENCE_INCIDENTS_KEY]: z.array(incidentMarkSchema),
  [LAST_GOOD_KEY]: storedPolicySchema,
  [BREAKERS_KEY]: storedBreakersSchema,
  [FLEET_STATE_KEY]: fleetStateSchema,
} as const satisfies Record<string, z.ZodType>;

export type StateKey = keyof typeof STATE_KEYS;
export type StateValue<K extends StateKey> = z.output<(typeof STATE_KEYS)[K]>;
/** Several keys written in one commit. */
export type StateEntries = { [K in StateKey]?: StateValue<K> };

export type RunRecord = z.output<typeof runRecordSchema>;
export type ChildRecordValue = z.output<typeof childRecordSchema>;
export type HoldValue = z.output<typeof holdSchema>;
export type InstallRecordValue = z.output<typeof installRecordSchema>;
export type RebootRecordValue = z.output<typeof rebootRecordSchema>;
export type ExportCursor = z.output<typeof exportCursorSchema>;
export type PendingIncident = z.output<typeof pendingIncidentSchema>;
export type IncidentMark = z.output<typeof incidentMarkSchema>;
export type StoredPolicy = z.output<typeof storedPolicySchema>;
export type StoredBreakers = z.output<typeof storedBreakersSchema>;

/**
 * Checks a stored (or about to be stored) value against its key's schema. A value that does not match is an
 * error naming the key, never a silent cast: the caller sees the journal holds something this WaveOS does not
 * understand.
 */
export function checkStateValue<K extends StateKey>(key: K, value: unknown): StateValue<K> {
  const r = STATE_KEYS[key].safeParse(value);
  if (!r.success) {
    const where = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(value)'}: ${i.message}`).slice(0, 3);
    throw new WaveosError('WAVEOS_E_RUNTIME', `the journal state ${key} does not match its schema: ${where.join('; ')}`);
  }
  // The schemas do not transform: what passed is the value as stored, unknown fields kept.
  return value as StateValue<K>;
}

/** Parses the stored JSON text of a key and checks it. */
export function parseStateValue<K extends StateKey>(key: K, json: string): StateValue<K> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new WaveosError('WAVEOS_E_RUNTIME', `the journal state ${key} is not JSON: ${errorMessage(e)}`, { cause: e });
  }
  return checkStateValue(key, value);
}

/** Keys of the registry, for callers that walk the entries of a multi-key write. */
export function isStateKey(key: string): key is StateKey {
  return Object.hasOwn(STATE_KEYS, key);
}
