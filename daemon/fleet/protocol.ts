/*
 * The fleet protocol (docs/fleet-protocol.md): topics, message schemas, signing and verification. Self-contained
 * so that a fleet controller can import it without loading the daemon: it depends on zod, node:crypto
 * and daemon/core's canonical JSON and Ed25519 (native, in tweetnacl's byte formats) only. The JSON Schemas in docs/formats/fleet/ are generated from the
 * zod schemas here (scripts/fleet-schemas.mjs) and a test keeps them equal.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { jcsOf } from '../core/canonical-json.js';
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, generateKeyPair, keyPairFromSeed, signDetached, verifyDetached } from '../core/ed25519.js';

export const FLEET_PROTOCOL_VERSION = 1;

/** Largest message either side publishes or accepts (bytes of the MQTT payload). Brokers must allow at least this. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
/** Most events in one `events` message; a batch also stays under MAX_MESSAGE_BYTES. */
export const MAX_EVENTS_PER_MESSAGE = 200;
/** Fleet messages may live at most this long (expires_at - issued_at). */
export const MAX_FLEET_MESSAGE_LIFETIME_MS = 30 * 24 * 3600 * 1000;
/** Clock skew allowed on issued_at being in the future. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

export const DEVICE_CHANNELS = ['status', 'events', 'health', 'cmd/result'] as const;
export const FLEET_CHANNELS = ['desired', 'cmd'] as const;
export type DeviceChannel = (typeof DEVICE_CHANNELS)[number];
export type FleetChannel = (typeof FLEET_CHANNELS)[number];
export type Channel = DeviceChannel | FleetChannel;

/** Which channels the broker keeps as retained messages. */
export const RETAINED_CHANNELS: readonly Channel[] = ['status', 'desired'];

/** An id usable as one MQTT topic level: no `/`, `+`, `#`, no whitespace. */
export const TOPIC_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const topicId = z.string().regex(TOPIC_ID, 'an id of letters, digits, . _ : - (at most 128, no / + # or spaces)');

export function topicOf(fleet: string, device: string, channel: Channel): string {
  if (!TOPIC_ID.test(fleet)) throw new Error(`fleet id ${JSON.stringify(fleet)} is not a valid topic level`);
  if (!TOPIC_ID.test(device)) throw new Error(`device id ${JSON.stringify(device)} is not a valid topic level`);
  return `waveos/${fleet}/${device}/${channel}`;
}

export function parseTopic(topic: string): { fleet: string; device: string; channel: Channel } | undefined {
  const m = /^waveos\/([^/]+)\/([^/]+)\/(status|events|health|desired|cmd|cmd\/result)$/.exec(topic);
  if (!m || !TOPIC_ID.test(m[1] as string) || !TOPIC_ID.test(m[2] as string)) return undefined;
  return { fleet: m[1] as string, device: m[2] as string, channel: m[3] as Channel };
}

/** A value made on first use and kept: the schemas below are built only for the channels a process parses. */
function once<T>(make: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= make());
}

const isoTime = z.iso.datetime({ offset: true });
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits');
const httpUrl = z.url({ protocol: /^https?$/ });
/** A fleet key id: 16 lower-case hex digits of sha256(public key), as bundle keys have (docs/formats/keys.md). */
export const fleetKeyIdSchema = z.string().regex(/^[0-9a-f]{16}$/, '16 lower-case hex digits');
/** A device key id: `ed25519:` and 16 hex digits (docs/formats/keys.md). */
export const deviceKeyIdSchema = z.string().regex(/^ed25519:[0-9a-f]{16}$/, '`ed25519:` and 16 lower-case hex digits');
const signature = z.base64().length(88, 'a base64 ed25519 signature (64 bytes)');

// ---------------------------------------------------------------- bodies: device → fleet

const statusBodySchema = once(() => z.object({
  identity: z.object({
    device_id: topicId,
    fleet: topicId,
    cohorts: z.array(topicId),
    key_id: deviceKeyIdSchema,
    public_key: z.base64(),
    run_id: z.string(),
    boot_id: z.string(),
  }),
  versions: z.object({
    waveos: z.string(),
    policy: z.string().nullable(),
    /**
     * The `config_revision` and `policy_revision` of the desired states the device has applied (state `applied`):
     * each is the value of the last applied desired state that carried the member. null until one carrying it
     * has been applied (never applied, or the fleet never named one); a desired state still waiting, applying
     * or failed does not change them.
     */
    config_revision: z.string().nullable(),
    policy_revision: z.string().nullable(),
    bundles: z.record(z.string(), z.object({ kind: z.string(), version: z.string().nullable(), bundle_id: z.string(), state: z.string() })),
  }),
  mode: z.object({ current: z.string(), why: z.string().nullable(), since: z.string().nullable() }),
  health: z.object({ score: z.number().nullable(), deductions: z.array(z.object({ points: z.number(), why: z.string() }).loose()) }),
  last_incident: z.object({ seq: z.number(), ts: z.string(), kind: z.string(), reason: z.string() }).nullable(),
  evidence: z.array(z.object({ file: z.string(), bytes: z.number(), created_at: z.string() })),
  link: z.object({
    connected_since: z.string().nullable(),
    reconnects: z.number().int().nonnegative(),
    outbox_depth: z.number().int().nonnegative(),
    outbox_dropped: z.number().int().nonnegative(),
    events_acked_seq: z.number().int().nonnegative(),
  }),
  desired: z
    .object({
      seq: z.number().int().nonnegative(),
      state: z.enum(['applied', 'applying', 'waiting', 'failed']),
      reason: z.string(),
      at: z.string(),
    })
    .nullable(),
  uptime_s: z.number().nonnegative(),
}));

const journalEventSchema = once(() => z
  .object({
    v: z.number().int(),
    seq: z.number().int().positive(),
    ts: z.string(),
    mono_ms: z.number(),
    run_id: z.string(),
    boot_id: z.string(),
    kind: z.string(),
    severity: z.enum(['info', 'notice', 'warning', 'error', 'critical']),
    source: z.string(),
    reason: z.string(),
    data: z.record(z.string(), z.unknown()),
    prev_hash: z.string(),
    hash: z.string(),
  })
  .loose());

const eventsBodySchema = once(() => z.object({
  /** Journal seq of the first and last event in this batch; the envelope's seq is last_seq. */
  first_seq: z.number().int().positive(),
  last_seq: z.number().int().positive(),
  /** Events between the previous batch and this one that are not sent: below the severity floor, or gone from the journal. */
  skipped: z.number().int().nonnegative(),
  events: z.array(journalEventSchema()).min(1).max(MAX_EVENTS_PER_MESSAGE),
}));

const healthBodySchema = once(() => z.object({
  /** The window this summary covers. */
  from: z.string(),
  to: z.string(),
  interval_s: z.number().positive(),
  mode: z.string(),
  score: z.number().nullable(),
  /** One row per metric: the window's samples downsampled to min / max / mean / last. */
  metrics: z.array(z.object({ name: z.string(), unit: z.string(), n: z.number().int(), min: z.number(), max: z.number(), mean: z.number(), last: z.number() })),
  outbox: z.object({ depth: z.number().int(), dropped: z.number().int() }),
}));

const cmdResultBodySchema = once(() => z.object({
  /** The command's id and its fleet seq; null when the message was refused before they could be trusted. */
  cmd_id: z.string().nullable(),
  cmd_seq: z.number().int().nullable(),
  action: z.string().nullable(),
  outcome: z.enum(['succeeded', 'failed', 'refused']),
  /** For a refusal: which check (see REFUSAL_CODES). */
  code: z.string().nullable(),
  reason: z.string(),
  data: z.record(z.string(), z.unknown()),
}));

// ---------------------------------------------------------------- bodies: fleet → device

const maintenanceWindowSchema = once(() => z.object({
  /** Days of the week (0 = Sunday), UTC; absent = every day. */
  days: z.array(z.number().int().min(0).max(6)).min(1).optional(),
  /** `HH:MM` UTC; a window whose end is before its start runs over midnight. */
  start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (UTC)'),
  end: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (UTC)'),
}));

const desiredBundleSchema = once(() => z.object({
  version: z.string().min(1).max(64),
  url: httpUrl,
  sha256: sha256Hex,
  size: z.number().int().positive(),
}));

const desiredBodySchema = once(() => z.object({
  /** Bundles by name → the version to run and where to get it. A bundle not named here is left alone. */
  bundles: z.record(topicId, desiredBundleSchema()),
  config_revision: z.string().nullable().optional(),
  policy_revision: z.string().nullable().optional(),
  mode: z.object({ mode: z.string(), reason: z.string() }).nullable().optional(),
  /** Bundle installs start only inside one of these; empty = any time. */
  maintenance_windows: z.array(maintenanceWindowSchema()).default([]),
}));

const uploadSchema = once(() => z.object({
  url: httpUrl,
  method: z.enum(['PUT', 'POST']).default('PUT'),
  /** Extra request headers (for a pre-signed URL's needs); never logged. */
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().max(4096)).default({}),
}));

const cmdBodySchema = once(() => z.discriminatedUnion('action', [
  z.object({ id: z.string().min(1).max(128), action: z.literal('export_evidence'), args: z.object({ upload: uploadSchema(), reason: z.string().max(200).default('fleet request'), since: z.string().optional() }) }),
  z.object({ id: z.string().min(1).max(128), action: z.literal('restart_service'), args: z.object({ service: z.string().min(1).max(128) }) }),
  z.object({ id: z.string().min(1).max(128), action: z.literal('set_mode'), args: z.object({ mode: z.string().min(1), reason: z.string().min(1).max(500) }) }),
  z.object({ id: z.string().min(1).max(128), action: z.literal('report'), args: z.object({}).default({}) }),
]));

export type StatusBody = z.infer<ReturnType<typeof statusBodySchema>>;
export type EventsBody = z.infer<ReturnType<typeof eventsBodySchema>>;
export type HealthBody = z.infer<ReturnType<typeof healthBodySchema>>;
export type CmdResultBody = z.infer<ReturnType<typeof cmdResultBodySchema>>;
export type DesiredBody = z.infer<ReturnType<typeof desiredBodySchema>>;
export type DesiredBundle = z.infer<ReturnType<typeof desiredBundleSchema>>;
export type CmdBody = z.infer<ReturnType<typeof cmdBodySchema>>;
export type MaintenanceWindow = z.infer<ReturnType<typeof maintenanceWindowSchema>>;

// ---------------------------------------------------------------- envelopes

/** Device → fleet: signed by the device key. `seq` rises per device and channel (for `events`, the batch's last journal seq). */
function deviceEnvelope<T extends z.ZodType>(type: DeviceChannel, body: T) {
  return z.strictObject({
    v: z.literal(FLEET_PROTOCOL_VERSION),
    type: z.literal(type),
    fleet: topicId,
    device: topicId,
    seq: z.number().int().nonnegative(),
    ts: isoTime,
    key_id: deviceKeyIdSchema,
    body,
    sig: signature,
  });
}

export const fleetTargetSchema = z.union([z.strictObject({ device: topicId }), z.strictObject({ cohort: topicId })]);

/** Fleet → device: signed by a fleet key. `seq` rises per device and channel; `issuer` is who asked (journaled as the reason's author). */
function fleetEnvelope<T extends z.ZodType>(type: FleetChannel, body: T) {
  return z.strictObject({
    v: z.literal(FLEET_PROTOCOL_VERSION),
    type: z.literal(type),
    fleet: topicId,
    target: fleetTargetSchema,
    seq: z.number().int().positive(),
    issued_at: isoTime,
    expires_at: isoTime,
    issuer: z.string().min(1).max(128),
    key_id: fleetKeyIdSchema,
    body,
    sig: signature,
  });
}

const MAKERS = {
  status: () => deviceEnvelope('status', statusBodySchema()),
  events: () => deviceEnvelope('events', eventsBodySchema()),
  health: () => deviceEnvelope('health', healthBodySchema()),
  'cmd/result': () => deviceEnvelope('cmd/result', cmdResultBodySchema()),
  desired: () => fleetEnvelope('desired', desiredBodySchema()),
  cmd: () => fleetEnvelope('cmd', cmdBodySchema()),
};
type MessageSchemas = { readonly [C in Channel]: ReturnType<(typeof MAKERS)[C]> };
const built: Partial<Record<Channel, z.ZodType>> = {};

/**
 * Each channel's message schema, built on first use: zod schemas cost heap (about 0.9 MB for the six), and a
 * device parses only the fleet's two channels (`desired`, `cmd`), a controller the device's four.
 */
export const MESSAGE_SCHEMAS = Object.defineProperties(
  {},
  Object.fromEntries([...DEVICE_CHANNELS, ...FLEET_CHANNELS].map((c) => [c, { enumerable: true, get: () => (built[c] ??= MAKERS[c]()) }])),
) as MessageSchemas;

export type StatusMessage = z.infer<(typeof MESSAGE_SCHEMAS)['status']>;
export type EventsMessage = z.infer<(typeof MESSAGE_SCHEMAS)['events']>;
export type HealthMessage = z.infer<(typeof MESSAGE_SCHEMAS)['health']>;
export type CmdResultMessage = z.infer<(typeof MESSAGE_SCHEMAS)['cmd/result']>;
export type DesiredMessage = z.infer<(typeof MESSAGE_SCHEMAS)['desired']>;
export type CmdMessage = z.infer<(typeof MESSAGE_SCHEMAS)['cmd']>;
export type FleetMessage = DesiredMessage | CmdMessage;
export type DeviceMessage = StatusMessage | EventsMessage | HealthMessage | CmdResultMessage;

/** The file name of each channel's JSON Schema under docs/formats/fleet/. */
export function schemaFileOf(channel: Channel): string {
  return `${channel.replace('/', '-')}.schema.json`;
}

// ---------------------------------------------------------------- signing

/** The bytes a signature covers: RFC 8785 JSON of the envelope without `sig`, as UTF-8. */
export function signedBytes(envelope: Record<string, unknown>): Uint8Array {
  const { sig: _sig, ...rest } = envelope;
  return new TextEncoder().encode(jcsOf(rest));
}

export function signEnvelope<T extends Record<string, unknown>>(unsigned: T, secretKey: Uint8Array): T & { sig: string } {
  const sig = Buffer.from(signDetached(signedBytes(unsigned), secretKey)).toString('base64');
  return { ...unsigned, sig };
}

export function verifyEnvelopeSignature(envelope: Record<string, unknown>, publicKey: Uint8Array): boolean {
  if (typeof envelope.sig !== 'string') return false;
  const sig = Buffer.from(envelope.sig, 'base64');
  if (sig.length !== SIGNATURE_LENGTH || publicKey.length !== PUBLIC_KEY_LENGTH) return false;
  return verifyDetached(signedBytes(envelope), new Uint8Array(sig), publicKey);
}

export function fleetKeyIdOf(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

export function deviceKeyIdOf(publicKey: Uint8Array): string {
  return `ed25519:${fleetKeyIdOf(publicKey)}`;
}

/** A fleet signing key pair in the bundle keys' file form (docs/formats/keys.md), for controllers and tests. */
export function newFleetKeyPair(seed?: Uint8Array): { key_id: string; publicKey: Uint8Array; secretKey: Uint8Array; pubFileText: string; keyFileText: string } {
  const kp = seed ? keyPairFromSeed(seed) : generateKeyPair();
  const key_id = fleetKeyIdOf(kp.publicKey);
  const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');
  return {
    key_id,
    publicKey: kp.publicKey,
    secretKey: kp.secretKey,
    pubFileText: `${JSON.stringify({ key_id, algorithm: 'ed25519', public_key: b64(kp.publicKey) }, null, 2)}\n`,
    keyFileText: `${JSON.stringify({ key_id, algorithm: 'ed25519', secret_key: b64(kp.secretKey) }, null, 2)}\n`,
  };
}

/** Builds and signs a fleet message (what a controller publishes). */
export function signFleetMessage<C extends FleetChannel>(
  type: C,
  m: { fleet: string; target: { device: string } | { cohort: string }; seq: number; issued_at: string; expires_at: string; issuer: string; body: C extends 'cmd' ? CmdBody : z.input<ReturnType<typeof desiredBodySchema>> },
  key: { key_id: string; secretKey: Uint8Array },
): C extends 'cmd' ? CmdMessage : DesiredMessage {
  const unsigned = { v: FLEET_PROTOCOL_VERSION, type, fleet: m.fleet, target: m.target, seq: m.seq, issued_at: m.issued_at, expires_at: m.expires_at, issuer: m.issuer, key_id: key.key_id, body: m.body };
  return signEnvelope(unsigned, key.secretKey) as never;
}

/** Builds and signs a device message (what the device publishes). */
export function signDeviceMessage<C extends DeviceChannel>(
  type: C,
  m: { fleet: string; device: string; seq: number; ts: string; body: unknown },
  key: { keyId: string; secretKey: Uint8Array },
): DeviceMessage {
  const unsigned = { v: FLEET_PROTOCOL_VERSION, type, fleet: m.fleet, device: m.device, seq: m.seq, ts: m.ts, key_id: key.keyId, body: m.body };
  return signEnvelope(unsigned, key.secretKey) as DeviceMessage;
}

// ---------------------------------------------------------------- verification of fleet messages (device side)

/** Why a fleet message is refused; each is audited (event fleet.message_refused, data.code). */
export const REFUSAL_CODES = [
  'too_large',
  'malformed',
  'version',
  'unsigned',
  'unknown_key',
  'bad_signature',
  'other_fleet',
  'other_device',
  'wrong_topic',
  'expired',
  'not_yet_valid',
  'lifetime',
  'replayed',
  'reordered',
] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

/** Per channel: the highest accepted seq and the digests of recently accepted messages (to tell a replay from a reorder). */
export interface SeqState {
  last: number;
  recent: string[];
}

export interface VerifyContext {
  fleet: string;
  deviceId: string;
  cohorts: readonly string[];
  /** Trusted fleet keys by key id. */
  keys: ReadonlyMap<string, Uint8Array>;
  nowMs: number;
  seq: SeqState;
}

export type Verdict<M> =
  | { ok: true; message: M; digest: string; duplicate: boolean }
  | { ok: false; code: RefusalCode; reason: string; partial: { seq: number | null; issuer: string | null; id: string | null; key_id: string | null } };

/** sha256 of the signed bytes plus the signature: what `recent` remembers. */
export function messageDigest(envelope: Record<string, unknown>): string {
  return createHash('sha256').update(signedBytes(envelope)).update(String(envelope.sig)).digest('hex');
}

function partialOf(v: unknown): { seq: number | null; issuer: string | null; id: string | null; key_id: string | null } {
  const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const body = (o.body && typeof o.body === 'object' ? o.body : {}) as Record<string, unknown>;
  return {
    seq: typeof o.seq === 'number' ? o.seq : null,
    issuer: typeof o.issuer === 'string' ? o.issuer.slice(0, 128) : null,
    id: typeof body.id === 'string' ? body.id.slice(0, 128) : null,
    key_id: typeof o.key_id === 'string' ? o.key_id.slice(0, 64) : null,
  };
}

function parseJson(payload: Uint8Array | string): { ok: true; value: unknown } | { ok: false; reason: string } {
  try {
    return { ok: true, value: JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8')) };
  } catch (e) {
    return { ok: false, reason: `not JSON: ${(e as Error).message}` };
  }
}

/**
 * Checks a message received on a fleet channel, in this order: size, JSON, schema, signature (a trusted key,
 * a valid ed25519 over the canonical envelope), fleet, target (this device or a cohort it is in), time
 * (issued_at not in the future beyond the skew, expires_at not passed, lifetime bounded), then seq (above the
 * last accepted, or an exact re-delivery of an accepted message, which is reported as a duplicate).
 */
export function verifyFleetMessage<C extends FleetChannel>(channel: C, payload: Uint8Array | string, ctx: VerifyContext): Verdict<C extends 'cmd' ? CmdMessage : DesiredMessage> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const refuse = (code: RefusalCode, reason: string, v?: unknown) => ({ ok: false as const, code, reason, partial: partialOf(v) });
  if (size > MAX_MESSAGE_BYTES) return refuse('too_large', `${size} bytes, more than the ${MAX_MESSAGE_BYTES} a message may have`);
  const parsed = parseJson(payload);
  if (!parsed.ok) return refuse('malformed', parsed.reason);
  const raw = parsed.value as Record<string, unknown>;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return refuse('malformed', 'not a JSON object');
  if (raw.v !== FLEET_PROTOCOL_VERSION) return refuse('version', `protocol version ${JSON.stringify(raw.v)}, this device speaks ${FLEET_PROTOCOL_VERSION}`, raw);
  if (raw.sig === undefined) return refuse('unsigned', 'the message carries no signature (sig)', raw);
  if (raw.type !== channel) return refuse('wrong_topic', `a ${JSON.stringify(raw.type)} message on the ${channel} topic`, raw);
  const schema = MESSAGE_SCHEMAS[channel] as z.ZodType;
  const r = schema.safeParse(raw);
  if (!r.success) return refuse('malformed', r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(message)'}: ${i.message}`).join('; '), raw);
  const m = r.data as FleetMessage;
  const key = ctx.keys.get(m.key_id);
  if (!key) return refuse('unknown_key', `signed by key ${m.key_id}, which is not a trusted fleet key`, raw);
  if (!verifyEnvelopeSignature(raw, key)) return refuse('bad_signature', `the signature does not verify with fleet key ${m.key_id}: the message was changed or forged`, raw);
  if (m.fleet !== ctx.fleet) return refuse('other_fleet', `for fleet ${m.fleet}, this device is in ${ctx.fleet}`, raw);
  if ('device' in m.target && m.target.device !== ctx.deviceId) return refuse('other_device', `for device ${m.target.device}, this is ${ctx.deviceId}`, raw);
  if ('cohort' in m.target && !ctx.cohorts.includes(m.target.cohort)) return refuse('other_device', `for cohort ${m.target.cohort}, which this device (${ctx.deviceId}) is not in`, raw);
  const issued = Date.parse(m.issued_at);
  const expires = Date.parse(m.expires_at);
  if (issued > ctx.nowMs + CLOCK_SKEW_MS) return refuse('not_yet_valid', `issued at ${m.issued_at}, in the future of this device's clock (${new Date(ctx.nowMs).toISOString()})`, raw);
  if (expires <= ctx.nowMs) return refuse('expired', `expired at ${m.expires_at} (now ${new Date(ctx.nowMs).toISOString()})`, raw);
  if (expires - issued > MAX_FLEET_MESSAGE_LIFETIME_MS) return refuse('lifetime', `valid for ${Math.round((expires - issued) / 86_400_000)} days, more than the 30 allowed`, raw);
  const digest = messageDigest(raw);
  if (m.seq <= ctx.seq.last) {
    const seen = ctx.seq.recent.includes(digest);
    // The broker re-delivering the retained desired state it holds (on every reconnect) is not an attack; a
    // command is carried out once, so a second copy of one, however it came, is a replay.
    if (seen && channel === 'desired') return { ok: true, message: m as never, digest, duplicate: true };
    if (seen || m.seq === ctx.seq.last) return refuse('replayed', `seq ${m.seq} was already accepted${seen ? ' (this very message)' : ' for another message'}`, raw);
    return refuse('reordered', `seq ${m.seq} is below the last accepted ${ctx.seq.last}`, raw);
  }
  return { ok: true, message: m as never, digest, duplicate: false };
}

/** Records an accepted message's seq; keeps the last 32 digests. */
export function acceptSeq(state: SeqState, seq: number, digest: string): SeqState {
  return { last: Math.max(state.last, seq), recent: [...state.recent.filter((d) => d !== digest), digest].slice(-32) };
}

/** Whether `nowMs` falls in one of the windows (UTC); no windows means always. */
export function inMaintenanceWindow(windows: readonly MaintenanceWindow[], nowMs: number): boolean {
  if (windows.length === 0) return true;
  const d = new Date(nowMs);
  const minute = d.getUTCHours() * 60 + d.getUTCMinutes();
  const day = d.getUTCDay();
  const toMin = (s: string): number => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
  return windows.some((w) => {
    const start = toMin(w.start);
    const end = toMin(w.end);
    if (start <= end) return (!w.days || w.days.includes(day)) && minute >= start && minute < end;
    // Over midnight: the part after midnight belongs to the day the window started on.
    if (minute >= start) return !w.days || w.days.includes(day);
    return minute < end && (!w.days || w.days.includes((day + 6) % 7));
  });
}

/** Parses a device message (what the controller receives) and checks its signature with the device's public key. */
export function verifyDeviceMessage(channel: DeviceChannel, payload: Uint8Array | string, devicePublicKey: Uint8Array): { ok: true; message: DeviceMessage } | { ok: false; reason: string } {
  const parsed = parseJson(payload);
  if (!parsed.ok) return { ok: false, reason: parsed.reason };
  const r = (MESSAGE_SCHEMAS[channel] as z.ZodType).safeParse(parsed.value);
  if (!r.success) return { ok: false, reason: r.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  if (!verifyEnvelopeSignature(parsed.value as Record<string, unknown>, devicePublicKey)) return { ok: false, reason: 'the device signature does not verify' };
  return { ok: true, message: r.data as DeviceMessage };
}

/** The JSON Schema (draft 2020-12) of each channel's message, as docs/formats/fleet/ holds them. */
export function fleetJsonSchemas(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const channel of [...DEVICE_CHANNELS, ...FLEET_CHANNELS]) {
    const schema = z.toJSONSchema(MESSAGE_SCHEMAS[channel], { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    out[schemaFileOf(channel)] = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: `https://waveos.dev/formats/fleet/${schemaFileOf(channel)}`,
      title: `WaveOS fleet protocol v${FLEET_PROTOCOL_VERSION}: ${channel}`,
      ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
    };
  }
  return out;
}
