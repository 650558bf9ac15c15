import type { AlertRoute } from '../config/index.js';
import { type AlertChange, fingerprint } from './alerts.js';

/** An alert inside a notification: what receivers are sent. */
export interface NotifiedAlert {
  fingerprint: string;
  status: 'firing' | 'resolved';
  alertname: string;
  severity: string;
  rule: string | null;
  kind: string;
  reason: string;
  message: string | null;
  numbers: Record<string, unknown>;
  labels: Record<string, string>;
  starts_at: string;
  ends_at: string | null;
  seq: number;
}

/** One message for one receiver about one group; stored in the outbox as it is. */
export interface Notification {
  receiver: string;
  group_key: string;
  group_labels: Record<string, string>;
  status: 'firing' | 'resolved';
  /** Why it is sent: the group's first notice, a change, a repeat, or the all-clear. */
  trigger: 'new' | 'changed' | 'repeat' | 'resolved';
  alerts: NotifiedAlert[];
  created_at: string;
}

interface GroupAlert extends NotifiedAlert {
  autoResolve: boolean;
  lastFiredMono: number;
}

interface Group {
  key: string;
  route: AlertRoute;
  labels: Record<string, string>;
  alerts: Map<string, GroupAlert>;
  notified: Set<string>;
  lastNotifyMono: number | undefined;
  dueMono: number | undefined;
}

/** What survives a restart: the alerts of each group and which of them receivers were last told about. */
export interface GroupsSnapshot {
  groups: { key: string; path: string; labels: Record<string, string>; alerts: NotifiedAlert[]; auto: string[]; notified: string[] }[];
}

const sameSet = (a: Set<string>, b: readonly string[]): boolean => a.size === b.length && b.every((x) => a.has(x));

/**
 * Alertmanager's grouping over monotonic time: the first alert of a group waits `group_wait` for others,
 * later changes wait at least `group_interval` after the last notification, an unchanged group is told
 * again after `repeat_interval`, and a group whose alerts have all cleared sends one resolved notification
 * and is forgotten. A condition that flaps between two notifications is one unchanged alert (de-duplicated);
 * one that fired and cleared before anything was sent is not sent at all.
 */
export class AlertGroups {
  private readonly groups = new Map<string, Group>();

  constructor(
    private readonly resolveTimeoutMs: number,
    private readonly now: { mono: () => number; wall: () => number },
  ) {}

  /** A firing alert, into the group its route and labels name. */
  fire(c: AlertChange, hit: { route: AlertRoute; path: string }): void {
    const labels = c.labels;
    const groupLabels = Object.fromEntries(hit.route.group_by.map((l) => [l, labels[l] ?? '']));
    const key = `${hit.route.receiver}:${hit.path}:${JSON.stringify(groupLabels)}`;
    const fp = fingerprint(labels);
    const mono = this.now.mono();
    let g = this.groups.get(key);
    if (!g) {
      g = { key, route: hit.route, labels: groupLabels, alerts: new Map(), notified: new Set(), lastNotifyMono: undefined, dueMono: mono + hit.route.group_wait_ms };
      this.groups.set(key, g);
    }
    const prev = g.alerts.get(fp);
    const wasFiring = prev?.status === 'firing';
    g.alerts.set(fp, {
      fingerprint: fp,
      status: 'firing',
      alertname: labels.alertname ?? 'WaveosAlert',
      severity: c.severity,
      rule: labels.rule || null,
      kind: c.kind,
      reason: c.reason,
      message: c.message,
      numbers: c.numbers,
      labels,
      starts_at: wasFiring && prev ? prev.starts_at : c.ts,
      ends_at: null,
      seq: c.seq,
      autoResolve: c.autoResolve,
      lastFiredMono: mono,
    });
    if (!wasFiring) this.schedule(g, mono);
  }

  /**
   * A clearing event: the alert resolves in every group that holds it. Found by its fingerprint, not routed:
   * the clearing event's own kind and severity (a notice) would take it down another branch of the tree.
   */
  resolve(c: AlertChange): void {
    const fp = fingerprint(c.labels);
    const mono = this.now.mono();
    for (const g of this.groups.values()) {
      const prev = g.alerts.get(fp);
      if (!prev || prev.status === 'resolved') continue;
      g.alerts.set(fp, { ...prev, status: 'resolved', ends_at: c.ts, reason: c.reason, seq: c.seq });
      this.schedule(g, mono);
    }
  }

  private schedule(g: Group, mono: number): void {
    if (g.dueMono !== undefined) return;
    g.dueMono = g.lastNotifyMono === undefined ? mono + g.route.group_wait_ms : Math.max(mono, g.lastNotifyMono + g.route.group_interval_ms);
  }

  /** The next monotonic time anything is due: a flush, a repeat or an auto-resolve. */
  nextDue(): number | undefined {
    let next: number | undefined;
    const take = (t: number): void => {
      next = next === undefined ? t : Math.min(next, t);
    };
    for (const g of this.groups.values()) {
      if (g.dueMono !== undefined) take(g.dueMono);
      else if (g.lastNotifyMono !== undefined && g.notified.size) take(g.lastNotifyMono + g.route.repeat_interval_ms);
      for (const a of g.alerts.values()) if (a.autoResolve && a.status === 'firing') take(a.lastFiredMono + this.resolveTimeoutMs);
    }
    return next;
  }

  /** The notifications due now, in the order their groups were made. */
  due(): Notification[] {
    const mono = this.now.mono();
    const out: Notification[] = [];
    for (const g of [...this.groups.values()]) {
      for (const a of g.alerts.values()) {
        if (a.autoResolve && a.status === 'firing' && mono - a.lastFiredMono >= this.resolveTimeoutMs) {
          g.alerts.set(a.fingerprint, { ...a, status: 'resolved', ends_at: new Date(this.now.wall()).toISOString(), reason: `${a.reason} (not seen again for ${Math.round(this.resolveTimeoutMs / 1000)} s)` });
          this.schedule(g, mono);
        }
      }
      const repeatDue = g.dueMono === undefined && g.lastNotifyMono !== undefined && g.notified.size > 0 && mono - g.lastNotifyMono >= g.route.repeat_interval_ms;
      if (!repeatDue && (g.dueMono === undefined || g.dueMono > mono)) continue;
      const n = this.flush(g, mono, repeatDue);
      if (n) out.push(n);
    }
    return out;
  }

  private flush(g: Group, mono: number, repeat: boolean): Notification | undefined {
    g.dueMono = undefined;
    const firing = [...g.alerts.values()].filter((a) => a.status === 'firing');
    const resolved = [...g.alerts.values()].filter((a) => a.status === 'resolved' && g.notified.has(a.fingerprint));
    for (const a of [...g.alerts.values()]) if (a.status === 'resolved') g.alerts.delete(a.fingerprint);
    const unchanged = resolved.length === 0 && sameSet(g.notified, firing.map((a) => a.fingerprint));
    if (firing.length === 0 && resolved.length === 0) {
      this.groups.delete(g.key);
      return undefined;
    }
    if (unchanged && !repeat) return undefined;
    const trigger: Notification['trigger'] = repeat && unchanged ? 'repeat' : g.lastNotifyMono === undefined ? 'new' : firing.length === 0 ? 'resolved' : 'changed';
    g.lastNotifyMono = mono;
    g.notified = new Set(firing.map((a) => a.fingerprint));
    if (firing.length === 0) this.groups.delete(g.key);
    const strip = ({ autoResolve: _a, lastFiredMono: _l, ...a }: GroupAlert): NotifiedAlert => a;
    return {
      receiver: g.route.receiver,
      group_key: g.key,
      group_labels: g.labels,
      status: firing.length ? 'firing' : 'resolved',
      trigger,
      alerts: [...firing, ...resolved].map(strip),
      created_at: new Date(this.now.wall()).toISOString(),
    };
  }

  snapshot(): GroupsSnapshot {
    return {
      groups: [...this.groups.values()].map((g) => ({
        key: g.key,
        path: g.key.split(':')[1] ?? '',
        labels: g.labels,
        alerts: [...g.alerts.values()].map(({ autoResolve: _a, lastFiredMono: _l, ...a }) => a),
        auto: [...g.alerts.values()].filter((a) => a.autoResolve).map((a) => a.fingerprint),
        notified: [...g.notified],
      })),
    };
  }

  /** Takes back a snapshot: repeats and auto-resolves count from now, and every group is looked at after its wait. */
  restore(s: GroupsSnapshot, routeAt: (path: string) => AlertRoute | undefined): void {
    const mono = this.now.mono();
    for (const sg of s.groups) {
      const route = routeAt(sg.path);
      if (!route) continue;
      const auto = new Set(sg.auto);
      this.groups.set(sg.key, {
        key: sg.key,
        route,
        labels: sg.labels,
        alerts: new Map(sg.alerts.map((a) => [a.fingerprint, { ...a, autoResolve: auto.has(a.fingerprint), lastFiredMono: mono }])),
        notified: new Set(sg.notified),
        lastNotifyMono: sg.notified.length ? mono : undefined,
        dueMono: mono + route.group_wait_ms,
      });
    }
  }
}
