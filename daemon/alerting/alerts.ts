import { createHash } from 'node:crypto';
import type { JournalEvent } from '../journal/index.js';

/** One alert as it enters the router: a firing or resolving change of a condition, named by its labels. */
export interface AlertChange {
  status: 'firing' | 'resolved';
  /** Identify the alert: alertname, rule, service, … (device and fleet tags are added by the service). */
  labels: Record<string, string>;
  /** What a person reads: the reason, a message. */
  reason: string;
  message: string | null;
  /** The numbers behind it (the event's data). */
  numbers: Record<string, unknown>;
  severity: string;
  /** The event that fired or cleared it. */
  kind: string;
  seq: number;
  ts: string;
  /** A change that has no clearing event of its own resolves after the resolve timeout. */
  autoResolve: boolean;
}

/** An alert's identity: the sha256 of its sorted labels (Alertmanager's fingerprint, in hex). */
export function fingerprint(labels: Readonly<Record<string, string>>): string {
  const h = createHash('sha256');
  for (const k of Object.keys(labels).sort()) h.update(k).update('\0').update(labels[k] ?? '').update('\0');
  return h.digest('hex').slice(0, 16);
}

const SEVERITY_ORDER = ['info', 'notice', 'warning', 'error', 'critical'];

/** Kinds the built-in alerts read: not turned into generic event alerts as well. */
const BUILT_IN = new Set(['policy.breaker_open', 'policy.breaker_closed', 'policy.breaker_half_open', 'mode.changed', 'service.failed', 'service.started', 'policy.decision', 'journal.disk_full', 'journal.disk_full_recovered', 'bundle.rolled_back', 'bundle.committed']);

function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);
}

function change(e: JournalEvent, status: AlertChange['status'], labels: Record<string, string>, autoResolve = false): AlertChange {
  return {
    status,
    labels,
    reason: e.reason,
    message: typeof e.data.message === 'string' ? e.data.message : null,
    numbers: e.data,
    severity: e.severity,
    kind: e.kind,
    seq: e.seq,
    ts: e.ts,
    autoResolve,
  };
}

/**
 * The alerts a journal event raises or clears (docs/observability.md, "Alerts"). Pure: the same events give
 * the same changes. The alerting module's own events (alert.*, trace.*) never raise alerts.
 */
export function alertChanges(e: JournalEvent, minSeverity: string): AlertChange[] {
  if (e.kind.startsWith('alert.') || e.kind.startsWith('trace.')) return [];
  const d = e.data;
  switch (e.kind) {
    case 'policy.breaker_open':
      return [change(e, 'firing', { alertname: 'WaveosBreakerOpen', rule: str(d.rule_id) })];
    case 'policy.breaker_closed':
      return [change(e, 'resolved', { alertname: 'WaveosBreakerOpen', rule: str(d.rule_id) })];
    case 'mode.changed':
      if (d.to === 'safe') return [change(e, 'firing', { alertname: 'WaveosSafeMode', rule: '' })];
      if (d.from === 'safe') return [change(e, 'resolved', { alertname: 'WaveosSafeMode', rule: '' })];
      return [];
    case 'service.failed':
      return [change(e, 'firing', { alertname: 'WaveosServiceFailed', rule: '', service: str(d.service) })];
    case 'service.started':
      return [change(e, 'resolved', { alertname: 'WaveosServiceFailed', rule: '', service: str(d.service) })];
    case 'journal.disk_full':
      return [change(e, 'firing', { alertname: 'WaveosJournalDiskFull', rule: '' })];
    case 'journal.disk_full_recovered':
      return [change(e, 'resolved', { alertname: 'WaveosJournalDiskFull', rule: '' })];
    case 'bundle.rolled_back':
      return [change(e, 'firing', { alertname: 'WaveosRolloutHalted', rule: '', bundle: str(d.name) }, true)];
    case 'bundle.committed':
      return [change(e, 'resolved', { alertname: 'WaveosRolloutHalted', rule: '', bundle: str(d.name) })];
    case 'policy.decision':
      // The policy `webhook` action: an alert named by its rule, resolved when the rule stays quiet.
      if (d.action !== 'webhook') return [];
      return [change(e, 'firing', { alertname: 'WaveosPolicyAlert', rule: str(d.rule_id) }, true)];
    default:
      break;
  }
  if (BUILT_IN.has(e.kind) || minSeverity === 'off') return [];
  if (SEVERITY_ORDER.indexOf(e.severity) < SEVERITY_ORDER.indexOf(minSeverity)) return [];
  return [change(e, 'firing', { alertname: 'WaveosEvent', rule: '', event: e.kind, source: e.source }, true)];
}
