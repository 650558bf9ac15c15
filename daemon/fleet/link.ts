import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { type SecureContext, createSecureContext } from 'node:tls';
import { type LinkClientOptions, loadMqtt, type MqttConnect } from './mqtt-lite.js';
import { type Lifecycle, errorMessage, isoUtc } from '../core/index.js';
import type { JournalEvent } from '../journal/index.js';
import { Commands } from './commands.js';
import { Desired } from './desired.js';
import { nextBatch } from './events-pump.js';
import { HealthWindow } from './health.js';
import { Inbound } from './inbound.js';
import { Outbox } from './outbox.js';
import { type DeviceChannel, type StatusBody, signDeviceMessage, topicOf } from './protocol.js';
import { FleetState } from './state.js';
import type { FleetDeps } from './types.js';

/** Kinds after which the retained status is republished (debounced). */
const STATUS_KINDS = /^(mode\.changed|bundle\.(committed|rolled_back|rejected|trial)|fleet\.desired|evidence\.exported|service\.(failed|crash_loop))/;
const STATUS_EVERY_MS = 5 * 60_000;

export type LinkState = 'connecting' | 'connected' | 'offline' | 'stopped';

/** What `waveos fleet status` shows. */
export interface LinkSnapshot {
  enabled: true;
  state: LinkState;
  broker: string;
  fleet: string;
  device: string;
  connected_since: string | null;
  last_sync: string | null;
  last_error: string | null;
  reconnects: number;
  outbox: { depth: number; dropped: number; max_bytes: number };
  events: { acked_seq: number; journal_seq: number; pending: number };
  desired: { seq: number; state: string; reason: string; at: string; issuer: string } | null;
  /** The last desired state applied and the config and policy revisions in force (as `status` reports them). */
  applied: { seq: number; config_revision: string | null; policy_revision: string | null; at: string } | null;
  update_lock: { held: boolean; reason: string | null };
}

/**
 * The fleet link: one MQTT session over TLS with the device's certificate (persistent session, QoS 1,
 * keep-alive), reconnecting with jittered exponential backoff. Events stream from the journal by seq (the
 * cursor moves on PUBACK), `health` and `cmd/result` go through the on-disk outbox, `status` is retained.
 * Inbound `desired` and `cmd` are verified end to end (inbound.ts) before anything acts on them.
 */
export class FleetLink implements Lifecycle {
  readonly name = 'fleet';
  private client: MqttClient | undefined;
  private linkState: LinkState = 'connecting';
  private readonly store: FleetState;
  private readonly outbox: Outbox;
  private readonly health: HealthWindow;
  private readonly inbound: Inbound;
  readonly desired: Desired;
  private connectedSince: number | null = null;
  private offlineSince: number | null = null;
  private lastError: string | null = null;
  private reconnects = 0;
  private attempt = 0;
  private generation = 0;
  private eventsInFlight = false;
  private outboxInFlight = false;
  private timers: NodeJS.Timeout[] = [];
  private reconnectTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private pumpQueued = false;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;
  private mqttConnect: MqttConnect | undefined;
  private secureContext: SecureContext | undefined;

  constructor(private readonly d: FleetDeps) {
    this.store = new FleetState(d.journal);
    this.outbox = new Outbox(join(d.paths.fleetDir, 'outbox'), d.config.outbox_max_bytes);
    this.health = new HealthWindow(d);
    const commands = new Commands(d, { result: (body) => this.queue('cmd/result', body), report: () => this.report() });
    this.desired = new Desired(d, this.store, () => this.statusSoon());
    this.inbound = new Inbound(d, this.store, {
      result: (body) => this.queue('cmd/result', body),
      command: (m) => commands.run(m),
      desired: (m, duplicate) => this.desired.offer(m, duplicate),
    });
  }

  async start(): Promise<void> {
    this.mqttConnect = await loadMqtt();
    this.unsubscribe = this.d.journal.onCommit((events) => this.onJournal(events));
    this.timers.push(setInterval(() => this.healthTick(), this.d.config.health_interval_ms));
    this.timers.push(setInterval(() => this.publishStatus(), STATUS_EVERY_MS));
    for (const t of this.timers) t.unref();
    this.desired.start();
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.linkState = 'stopped';
    this.unsubscribe?.();
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.statusTimer);
    this.desired.stop();
    // Crash-only: nothing to finish; what was not acknowledged is sent again by the next run.
    this.client?.end(true);
    this.outbox.close();
  }

  private tlsFile(p: string): Buffer {
    return readFileSync(isAbsolute(p) ? p : join(this.d.paths.root, p));
  }

  /** One TLS context for the run's connections (files read again only after a failed connect, e.g. a new cert). */
  private tlsContext(): SecureContext {
    const c = this.d.config.tls;
    this.secureContext ??= createSecureContext({ ca: this.tlsFile(c.ca), cert: this.tlsFile(c.cert), key: this.tlsFile(c.key) });
    return this.secureContext;
  }

  private options(): LinkClientOptions {
    const c = this.d.config;
    const tls = c.broker?.startsWith('mqtts:') ? { secureContext: this.tlsContext(), rejectUnauthorized: true } : {};
    return {
      ...tls,
      clientId: `waveos-${this.d.deviceId}`,
      protocolVersion: 5,
      clean: false,
      keepalive: c.keepalive_s,
      // Reconnection is ours: jittered exponential backoff (mqtt.js retries at a fixed period).
      reconnectPeriod: 0,
      connectTimeout: 15_000,
      resubscribe: true,
      // Without it mqtt-packet fills a cache of 65 536 two-byte Buffers (one per 16-bit number) at the first
      // write: about 6 MB of heap held for the life of the process to save an allocation per packet.
      writeCache: false,
      properties: { sessionExpiryInterval: c.session_expiry_s },
    };
  }

  private connect(): void {
    if (this.stopped) return;
    this.linkState = this.connectedSince === null && this.reconnects === 0 ? 'connecting' : 'offline';
    let client: MqttClient;
    try {
      client = (this.mqttConnect as MqttConnect)(this.d.config.broker as string, this.options());
    } catch (e) {
      this.lastError = errorMessage(e);
      this.scheduleReconnect();
      return;
    }
    const gen = ++this.generation;
    this.client = client;
    client.on('connect', (ack) => this.onConnect(gen, Boolean(ack.sessionPresent)));
    client.on('message', (topic, payload) => this.inbound.receive(topic, payload));
    client.on('error', (e) => {
      this.lastError = errorMessage(e);
      this.d.log.debug({ err: this.lastError }, 'fleet link error');
    });
    client.on('close', () => this.onClose(gen));
  }

  private onConnect(gen: number, sessionPresent: boolean): void {
    if (gen !== this.generation) return;
    const now = this.d.clock.now();
    const offlineMs = this.offlineSince === null ? 0 : now - this.offlineSince;
    this.linkState = 'connected';
    this.connectedSince = now;
    this.offlineSince = null;
    this.attempt = 0;
    this.lastError = null;
    this.d.journal.append({
      kind: 'fleet.connected',
      severity: 'notice',
      source: 'fleet',
      reason: `connected to the fleet broker ${this.d.config.broker} as ${this.d.deviceId}${sessionPresent ? ' (session resumed)' : ''}${offlineMs ? ` after ${Math.round(offlineMs / 1000)} s offline` : ''}`,
      data: { broker: this.d.config.broker, session_present: sessionPresent, reconnects: this.reconnects, offline_ms: offlineMs },
    });
    const sub = [topicOf(this.d.config.fleet, this.d.deviceId, 'desired'), topicOf(this.d.config.fleet, this.d.deviceId, 'cmd')];
    this.client?.subscribe(sub, { qos: 1 }, (err) => {
      if (err) this.d.log.warn({ err: errorMessage(err) }, 'fleet subscribe failed');
    });
    this.eventsInFlight = false;
    this.outboxInFlight = false;
    this.publishStatus();
    this.pump();
  }

  private onClose(gen: number): void {
    if (gen !== this.generation || this.stopped) return;
    const wasConnected = this.linkState === 'connected';
    // A connect that failed may be the TLS files' fault (a cert provisioned since): the next one reads them again.
    if (!wasConnected) this.secureContext = undefined;
    this.linkState = 'offline';
    this.offlineSince ??= this.d.clock.now();
    this.connectedSince = null;
    this.eventsInFlight = false;
    this.outboxInFlight = false;
    this.client?.removeAllListeners();
    this.client?.on('error', () => undefined);
    this.client?.end(true);
    this.client = undefined;
    const delay = this.scheduleReconnect();
    if (wasConnected) {
      this.d.journal.append({
        kind: 'fleet.disconnected',
        severity: 'warning',
        source: 'fleet',
        reason: `lost the fleet broker ${this.d.config.broker}${this.lastError ? ` (${this.lastError})` : ''}; reconnecting in ${Math.round(delay / 100) / 10} s, events and health wait on disk`,
        data: { broker: this.d.config.broker, error: this.lastError, next_retry_ms: delay },
      });
    }
  }

  /** Exponential from reconnect_min to reconnect_max, each wait drawn from 50–100 % of its step. */
  private scheduleReconnect(): number {
    const c = this.d.config;
    const step = Math.min(c.reconnect_max_ms, c.reconnect_min_ms * 2 ** Math.min(this.attempt, 20));
    const delay = Math.round(step * (0.5 + Math.random() * 0.5));
    this.attempt++;
    this.reconnects++;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
    return delay;
  }

  private onJournal(events: readonly JournalEvent[]): void {
    if (events.some((e) => STATUS_KINDS.test(e.kind))) this.statusSoon();
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private signed(channel: DeviceChannel, seq: number, ts: string, body: unknown): Buffer {
    const m = signDeviceMessage(channel, { fleet: this.d.config.fleet, device: this.d.deviceId, seq, ts, body }, this.d.key);
    return Buffer.from(JSON.stringify(m));
  }

  private publish(channel: DeviceChannel, payload: Buffer, retain: boolean, done: (ok: boolean) => void): void {
    const client = this.client;
    const gen = this.generation;
    if (!client || this.linkState !== 'connected') return done(false);
    client.publish(topicOf(this.d.config.fleet, this.d.deviceId, channel), payload, { qos: 1, retain }, (err) => {
      if (gen !== this.generation) return;
      if (err) {
        this.lastError = errorMessage(err);
        return done(false);
      }
      this.store.update({ last_sync: isoUtc(this.d.clock.now()) });
      done(true);
    });
  }

  /** Sends what waits: the next events batch and the outbox head, one of each in flight. */
  private pump(): void {
    if (this.linkState !== 'connected') return;
    this.pumpEvents();
    this.pumpOutbox();
  }

  private pumpEvents(): void {
    if (this.eventsInFlight) return;
    const cursor = this.store.get().events_cursor;
    const b = nextBatch(this.d.journal, cursor, this.d.config.events_min_severity);
    if (!b) return;
    if (!('body' in b)) {
      this.store.update({ events_cursor: b.covers });
      return this.pumpEvents();
    }
    this.eventsInFlight = true;
    const payload = this.signed('events', b.body.last_seq, isoUtc(this.d.clock.now()), b.body);
    this.publish('events', payload, false, (ok) => {
      this.eventsInFlight = false;
      if (!ok) return;
      if (this.store.get().events_cursor < b.covers) this.store.update({ events_cursor: b.covers });
      this.pumpEvents();
    });
  }

  private pumpOutbox(): void {
    if (this.outboxInFlight) return;
    const rec = this.outbox.peek();
    if (!rec) return;
    this.outboxInFlight = true;
    this.publish(rec.channel, this.signed(rec.channel, rec.id, rec.ts, rec.body), false, (ok) => {
      this.outboxInFlight = false;
      if (!ok) return;
      this.outbox.ack(rec.id);
      this.pumpOutbox();
    });
  }

  private queue(channel: 'health' | 'cmd/result', body: Record<string, unknown>): void {
    if (!this.outbox.push(channel, isoUtc(this.d.clock.now()), body)) {
      // Said once per hundred drops, not once per message: the count is what matters.
      if (this.outbox.dropped === 1 || this.outbox.dropped % 100 === 0) {
        this.d.journal.append({
          kind: 'fleet.outbox_dropped',
          severity: 'warning',
          source: 'fleet',
          reason: `the fleet outbox holds its ${this.outbox.maxBytes} bytes: a ${channel} message was dropped (${this.outbox.dropped} so far in this run)`,
          data: { channel, dropped: this.outbox.dropped, max_bytes: this.outbox.maxBytes },
        });
      }
    }
    this.pumpOutbox();
  }

  private healthTick(): void {
    this.queue('health', this.health.summary({ depth: this.outbox.depth, dropped: this.outbox.dropped }));
  }

  private statusSoon(): void {
    if (this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      this.publishStatus();
    }, 500);
    this.statusTimer.unref();
  }

  /** `report`: status now, a health summary now, and the events from the cursor. */
  private report(): void {
    this.publishStatus();
    this.healthTick();
    this.pump();
  }

  private publishStatus(): void {
    if (this.linkState !== 'connected') return;
    // The journal's seq orders status messages across restarts without a counter of its own.
    const body = this.statusBody();
    this.publish('status', this.signed('status', this.d.journal.lastSeq(), isoUtc(this.d.clock.now()), body), true, () => undefined);
  }

  statusBody(): StatusBody {
    const f = this.d.facts;
    const st = this.store.get();
    const last = this.d.journal.events({ newest: 50 }).filter((e) => e.severity === 'error' || e.severity === 'critical').pop();
    const health = f.health();
    const bundles: StatusBody['versions']['bundles'] = {};
    for (const b of Object.values(f.bundles())) bundles[b.name] = { kind: b.kind, version: b.version, bundle_id: b.bundle_id, state: b.state };
    const why = f.modeReason();
    return {
      identity: { device_id: this.d.deviceId, fleet: this.d.config.fleet, cohorts: [...this.d.config.cohorts], key_id: this.d.key.keyId, public_key: this.d.key.publicKeyB64, run_id: this.d.runId, boot_id: this.d.bootId },
      versions: { waveos: this.d.waveosVersion, policy: f.policyVersion(), config_revision: st.applied?.config_revision ?? null, policy_revision: st.applied?.policy_revision ?? null, bundles },
      mode: { current: f.mode(), why: why?.reason ?? null, since: why?.since ?? null },
      health: { score: health.score, deductions: health.deductions.map((d) => ({ ...d, points: d.points, why: d.why ?? d.input ?? '' })) },
      last_incident: last ? { seq: last.seq, ts: last.ts, kind: last.kind, reason: last.reason } : null,
      evidence: f.evidence().map((p) => ({ file: p.name, bytes: p.bytes, created_at: p.created_at })),
      link: {
        connected_since: this.connectedSince === null ? null : isoUtc(this.connectedSince),
        reconnects: this.reconnects,
        outbox_depth: this.outbox.depth,
        outbox_dropped: this.outbox.dropped,
        events_acked_seq: st.events_cursor,
      },
      desired: st.desired ? { seq: st.desired.seq, state: st.desired.state as 'applied', reason: st.desired.reason, at: st.desired.at } : null,
      uptime_s: Math.round((this.d.clock.monoMs() - this.d.startedMono) / 1000),
    };
  }

  snapshot(): LinkSnapshot {
    const st = this.store.get();
    const journalSeq = this.d.journal.lastSeq();
    const lock = this.desired.lockState();
    return {
      enabled: true,
      state: this.linkState,
      broker: this.d.config.broker as string,
      fleet: this.d.config.fleet,
      device: this.d.deviceId,
      connected_since: this.connectedSince === null ? null : isoUtc(this.connectedSince),
      last_sync: st.last_sync,
      last_error: this.lastError,
      reconnects: this.reconnects,
      outbox: { depth: this.outbox.depth, dropped: this.outbox.dropped, max_bytes: this.outbox.maxBytes },
      events: { acked_seq: st.events_cursor, journal_seq: journalSeq, pending: Math.max(0, journalSeq - st.events_cursor) },
      desired: st.desired,
      applied: st.applied,
      update_lock: { held: lock.held, reason: lock.reason },
    };
  }
}
