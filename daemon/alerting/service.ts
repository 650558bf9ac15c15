import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AlertRoute, AlertingConfig } from '../config/index.js';
import { type Clock, type Lifecycle, type Logger, errorMessage, writeFileAtomic } from '../core/index.js';
import type { EventInput, JournalEvent } from '../journal/index.js';
import { alertChanges } from './alerts.js';
import { AlertGroups, type GroupsSnapshot } from './groups.js';
import { ReceiverOutbox } from './outbox.js';
import type { DeviceFacts } from './render.js';
import { routesFor } from './router.js';
import { createSender } from './senders.js';

export interface AlertingDeps {
  config: AlertingConfig;
  device: { device_id: string; app_id: string; environment: string };
  runId: string;
  /** Where the outboxes and the group state live (var/lib/waveos/alerting). */
  dir: string;
  clock: Clock;
  log: Logger;
  /** The value of a secret named in a receiver (url_secret, password_secret). */
  secret(name: string): string;
  emit(e: EventInput): void;
  /** The newest evidence pack's name at start (later ones are seen in the journal). */
  lastPack(): string | null;
}

function routeAt(root: AlertRoute, path: string): AlertRoute | undefined {
  let r: AlertRoute | undefined = root;
  for (const i of path.split('/').filter(Boolean)) r = r?.routes[Number(i)];
  return r;
}

/**
 * Alert routes (docs/observability.md): journal events raise and clear alerts; the routing tree sends each
 * to its receivers' groups; due notifications go into each receiver's durable outbox, which delivers them
 * in order. Every queued, sent, failed and dropped notification is an event; no secret is in any of them.
 */
export class AlertingService implements Lifecycle {
  readonly name = 'alerting';
  private readonly groups: AlertGroups;
  private readonly outboxes = new Map<string, ReceiverOutbox>();
  private readonly stateFile: string;
  private timer: NodeJS.Timeout | undefined;
  private packId: string | null = null;
  private stopped = false;

  constructor(private readonly deps: AlertingDeps) {
    this.groups = new AlertGroups(deps.config.resolve_timeout_ms, { mono: () => deps.clock.monoMs(), wall: () => deps.clock.now() });
    this.stateFile = join(deps.dir, 'groups.json');
  }

  private facts(): DeviceFacts {
    const d = this.deps.device;
    return { device_id: d.device_id, app_id: d.app_id, environment: d.environment, run_id: this.deps.runId, fleet: this.deps.config.labels, pack_id: this.packId };
  }

  async start(): Promise<void> {
    mkdirSync(this.deps.dir, { recursive: true, mode: 0o750 });
    this.packId = this.deps.lastPack();
    const c = this.deps.config;
    for (const [name, spec] of Object.entries(c.receivers)) {
      const sender = await createSender(spec, (s) => this.deps.secret(s));
      const box = new ReceiverOutbox(name, sender, {
        dir: join(this.deps.dir, 'outbox'),
        quotaBytes: c.outbox.quota_bytes,
        backoffMs: c.outbox.backoff_ms,
        maxBackoffMs: c.outbox.max_backoff_ms,
        emit: (e) => this.deps.emit(e),
        log: this.deps.log,
        facts: () => this.facts(),
      });
      this.outboxes.set(name, box);
      box.start();
    }
    if (existsSync(this.stateFile)) {
      try {
        this.groups.restore(JSON.parse(readFileSync(this.stateFile, 'utf8')) as GroupsSnapshot, (p) => routeAt(c.route, p));
      } catch (e) {
        this.deps.log.warn({ err: errorMessage(e), file: this.stateFile }, 'the alert groups could not be read back; they start empty');
      }
    }
    this.arm();
  }

  /** The journal's committed events: each may raise or clear alerts. */
  observe(events: readonly JournalEvent[]): void {
    if (this.stopped) return;
    let changed = false;
    for (const e of events) {
      if (e.kind === 'evidence.exported' && typeof e.data.name === 'string') this.packId = e.data.name;
      for (const ch of alertChanges(e, this.deps.config.events_min_severity)) {
        const labels: Record<string, string> = { ...this.deps.config.labels, ...ch.labels, device: this.deps.device.device_id, environment: this.deps.device.environment };
        if (ch.status === 'resolved') {
          this.groups.resolve({ ...ch, labels });
        } else {
          const input = { severity: ch.severity, kind: ch.kind, environment: this.deps.device.environment, alertname: labels.alertname ?? '' };
          for (const hit of routesFor(this.deps.config.route, input)) this.groups.fire({ ...ch, labels }, hit);
        }
        changed = true;
      }
    }
    if (changed) {
      this.save();
      this.arm();
    }
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const next = this.groups.nextDue();
    if (next === undefined) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, next - this.deps.clock.monoMs()));
    this.timer.unref();
  }

  private flush(): void {
    this.timer = undefined;
    try {
      for (const n of this.groups.due()) {
        const box = this.outboxes.get(n.receiver);
        if (box) box.enqueue(n);
      }
      this.save();
    } catch (e) {
      this.deps.log.error({ err: errorMessage(e) }, 'alert notifications could not be queued');
    }
    this.arm();
  }

  private save(): void {
    writeFileAtomic(this.stateFile, `${JSON.stringify(this.groups.snapshot())}\n`, 0o640);
  }

  /** Depth of each receiver's outbox (status, tests). */
  depths(): Record<string, number> {
    return Object.fromEntries([...this.outboxes].map(([k, b]) => [k, b.depth]));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    let t: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([...this.outboxes.values()].map((b) => b.stop())), new Promise<void>((r) => (t = setTimeout(r, 300)))]);
    clearTimeout(t);
  }
}
