import type { Clock } from '../core/index.js';

/** An installed bundle as status shows it (run_meta.json's `bundles_by_name` holds the same). */
export interface StatusBundle {
  kind: string;
  name: string;
  bundle_id: string;
  version: string | null;
  state: string;
}

/** The last `mode.changed` event, as much of it as says who changed the mode and why. */
export interface ModeChangeEvent {
  seq: number;
  ts: string;
  source: string;
  reason: string;
  data: Readonly<Record<string, unknown>>;
}

/** Why the device is in its mode: who or what moved it there last, and when. */
export interface ModeReason {
  mode: string;
  from: string | null;
  /** `rule` (a policy rule: breaker, budget, mode graph), `operator` (an API token), `recovery` (the restart ladder), or the event's source. */
  by: string;
  rule: { id: string; kind: string | null; policy: string | null } | null;
  operator: string | null;
  source: string;
  since: string;
  seq: number;
  reason: string;
}

/** A policy file on disk that is not in force, and why. */
export interface RejectedPolicyFile {
  file: string;
  reason: string;
  /** The last good version of it that stays in force instead (`name@version`), or null: none of it is. */
  kept: string | null;
  since: string;
  seq: number;
}

/**
 * Reads who changed the mode from the event's source: `policy:<rule id>`, `operator:<token name>`, `recovery`.
 * With no event (the mode was never changed in this journal) the mode is the policy's initial one.
 */
export function modeReasonOf(mode: string, e: ModeChangeEvent | undefined, rules: readonly { id: string; kind: string; source: string }[]): ModeReason | null {
  if (!e) return null;
  const [prefix, ...rest] = e.source.split(':');
  const who = rest.join(':');
  const rule = prefix === 'policy' && who ? rules.find((r) => r.id === who) : undefined;
  const to = typeof e.data.to === 'string' ? e.data.to : mode;
  return {
    mode: to,
    from: typeof e.data.from === 'string' ? e.data.from : null,
    by: prefix === 'policy' ? 'rule' : prefix === 'operator' ? 'operator' : e.source,
    rule: prefix === 'policy' && who ? { id: who, kind: rule?.kind ?? null, policy: rule?.source ?? null } : null,
    operator: prefix === 'operator' && who ? who : null,
    source: e.source,
    since: e.ts,
    seq: e.seq,
    reason: e.reason,
  };
}

/** Where each part of the status document comes from; read at every request, so it is always current. */
export interface StatusSources {
  clock: Clock;
  /** Fixed for the run: ids, when and how it started, the device's key. */
  identity: {
    run_id: string;
    boot_id: string;
    device_id: string;
    started_at: string;
    profile: string;
    root: string;
    pid: number;
    device_public_key: string;
    device_key_id: string;
  };
  startedMono: number;
  previousRun: unknown;
  mode(): string;
  health(): { score: number };
  /** `bundles` is the contract's one id per kind; `bundles_by_name` every bundle by `<kind>/<name>`. */
  versions(): { waveos: string; policy: string | null; bundles: Record<string, string>; bundles_by_name: Record<string, StatusBundle> };
  policy(): unknown;
  /** Why the mode is what it is (the last mode change), or null when it was never changed. */
  modeReason(): ModeReason | null;
  /** Policy files on disk that are refused and not in force. */
  rejectedPolicies(): RejectedPolicyFile[];
  services(): unknown[];
  journal(): { last_seq: number; disk_full: unknown; read_only: unknown };
  telemetry(): { prometheus: string | null; prometheus_error: string | null; collectors_failing: string[] };
  /** Only a test rig's daemon has it. */
  chaos(): unknown;
}

/** The status document (CONTRACT.md `status --json`): the contract's fields first, then the rest. */
export function statusDocument(src: StatusSources): Record<string, unknown> {
  const id = src.identity;
  const health = src.health();
  const chaos = src.chaos();
  return {
    run_id: id.run_id,
    boot_id: id.boot_id,
    device_id: id.device_id,
    mode: src.mode(),
    mode_reason: src.modeReason(),
    health_score: health.score,
    health,
    versions: src.versions(),
    policy: src.policy(),
    policy_rejected: src.rejectedPolicies(),
    services: src.services(),
    previous_run: src.previousRun,
    uptime_s: Math.round((src.clock.monoMs() - src.startedMono) / 1000),
    started_at: id.started_at,
    profile: id.profile,
    root: id.root,
    pid: id.pid,
    journal: src.journal(),
    telemetry: src.telemetry(),
    device_public_key: id.device_public_key,
    device_key_id: id.device_key_id,
    ...(chaos === undefined ? {} : { chaos }),
  };
}
