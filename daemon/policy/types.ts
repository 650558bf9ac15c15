import type { CapSpec, PolicySeverity } from './schema.js';

/** One metric sample: the shape of the journal's MetricSample and of a metrics.csv row. */
export interface PolicySample {
  /** Wall-clock time the sample was taken (ms since the epoch). */
  ts_ms: number;
  name: string;
  value: number;
  unit: string;
  labels: Readonly<Record<string, string>>;
}

/** Things that happened which rules may count (breakers) or which change what the engine knows. */
export type Observation =
  /** A supervised service's process ended (any reason other than a stop WaveOS asked for). */
  | { type: 'service_exit'; ts_ms: number; service: string; code: number | null; signal: string | null }
  | { type: 'service_start'; ts_ms: number; service: string }
  /** The executor changed the mode (for a policy decision or an operator): the engine follows. */
  | { type: 'mode_changed'; ts_ms: number; mode: string; by?: string }
  /** Any other journal event a breaker may count (`trigger.event` matches `kind`). */
  | { type: 'event'; ts_ms: number; kind: string; labels?: Readonly<Record<string, string>> };

/** An action with every target resolved: what the executor is asked to do. */
export type Action =
  | { type: 'emit_event'; severity: PolicySeverity; kind: string; message?: string }
  | { type: 'set_mode'; mode: string; from: string }
  | { type: 'restart_service'; service: string }
  | { type: 'stop_service'; service: string }
  | { type: 'start_service'; service: string }
  | ({ type: 'apply_cap'; service: string; reset?: boolean } & CapSpec)
  | { type: 'export_evidence'; reason: string }
  | { type: 'request_reboot' }
  | { type: 'webhook'; message?: string };

export type RuleKind = 'threshold' | 'budget' | 'rate_limit' | 'cap' | 'breaker' | 'mode';

/** A decided action and why: the engine's only output. */
export interface Decision {
  /** Increases by one per decision of this engine. */
  seq: number;
  /** Policy time (monotonic ms) the decision belongs to. */
  at_ms: number;
  /** The wall time that corresponds to it: the sample's own time for sample-driven decisions. */
  ts_ms: number;
  rule_id: string;
  rule_kind: RuleKind;
  policy_version: string;
  action: Action;
  severity: PolicySeverity;
  /** A sentence a field engineer can read. */
  reason: string;
  /** The numbers behind the reason: rule id, observed values, threshold, window, action. */
  data: Record<string, unknown>;
  /** The mode the device is in after this decision (as far as the engine knows). */
  mode: string;
}

export interface AdmitResult {
  allowed: boolean;
  /** False when no rule limits the flow: everything is admitted. */
  limited: boolean;
  flow: string;
  key: string;
  rule_id?: string;
  /** Tokens left after this call. */
  remaining?: number;
  /** When the request could be admitted (0 if now). */
  retry_after_ms?: number;
}

export interface TransitionCheck {
  allowed: boolean;
  reason: string;
}

/** What a journal event looks like to the engine: kind, time, and its data's scalar fields as labels. */
export function observationFromEvent(e: { kind: string; ts: string; source?: string; data?: Readonly<Record<string, unknown>> }): Observation {
  const labels: Record<string, string> = {};
  if (e.source !== undefined) labels.source = e.source;
  for (const [k, v] of Object.entries(e.data ?? {})) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') labels[k] = String(v);
  }
  return { type: 'event', ts_ms: Date.parse(e.ts), kind: e.kind, labels };
}
