import type { Severity } from './severity.js';

/** Which highlight the evidence report tags an event with: a policy's decision or a recovery step. */
export type Highlight = 'policy' | 'recovery';

/** What the catalogue says about one event kind. */
export interface EventKindSpec {
  /** The severity it is usually written with (some writers raise or lower it case by case). */
  readonly severity: Severity;
  /** One line: what happened when this event is written. */
  readonly meaning: string;
  /** The fields its `data` holds (`...` marks fields copied in from elsewhere, e.g. a rule's numbers). */
  readonly data: readonly string[];
  /** The evidence report's highlight for it, or null. */
  readonly highlight: Highlight | null;
}

/** The fields every policy decision carries (decisionData). */
const DECISION = ['rule_id', 'rule_kind', 'policy_version', 'decision_seq', 'decision_ts', 'action', 'mode', '...'] as const;
/** The fields every bundle install event carries, before its own. */
const INSTALL = ['install_id', 'bundle_id', 'bundle_kind', 'name', 'version', 'state'] as const;

/**
 * Every event kind WaveOS writes, in one place: writers are typed against it (EventInput.kind), the evidence
 * report picks its highlights from it, docs/events.md is its table and the HIL invariants import it.
 * Policies may add their own kinds (emit_event actions); those are PolicyEventKind, not listed here.
 */
export const EVENT_KINDS = {
  'action.requested': { severity: 'info', meaning: 'an action is about to run; its intent row is written in the same commit', data: ['action', 'target', 'params'], highlight: 'recovery' },
  'action.succeeded': { severity: 'info', meaning: 'an action finished as asked', data: ['intent_id', 'action', 'target', '...'], highlight: 'recovery' },
  'action.failed': { severity: 'error', meaning: 'an action ran and failed', data: ['intent_id', 'action', 'target', '...'], highlight: 'recovery' },
  'action.interrupted': { severity: 'warning', meaning: 'an action a previous run started never finished: that run ended first', data: ['intent_id', 'action', 'target', 'run_id', 'intent_seq'], highlight: 'recovery' },
  'alert.notified': { severity: 'notice', meaning: "an alert notification was queued durably in a receiver's outbox", data: ['receiver', 'outbox_id', 'group_key', 'status', 'trigger', 'alerts', 'depth'], highlight: null },
  'alert.sent': { severity: 'info', meaning: 'an alert notification reached its receiver', data: ['receiver', 'outbox_id', 'group_key', 'status', 'attempts', 'target', 'depth'], highlight: null },
  'alert.send_failed': { severity: 'warning', meaning: 'an alert notification could not be sent; it stays first in the outbox and is retried', data: ['receiver', 'outbox_id', 'group_key', 'status', 'attempts', 'error', 'target', 'retry_in_ms', 'depth'], highlight: null },
  'alert.rejected': { severity: 'error', meaning: 'a receiver refused an alert notification for good (HTTP 4xx); it is dropped', data: ['receiver', 'outbox_id', 'group_key', 'status', 'attempts', 'error', 'target', 'retry_in_ms', 'depth'], highlight: null },
  'alert.dropped': { severity: 'error', meaning: "an alert notification was dropped: the receiver's outbox is at its quota", data: ['receiver', 'group_key', 'status', 'quota_bytes', 'outbox_bytes', 'dropped'], highlight: null },
  'artifacts.export_failed': { severity: 'error', meaning: 'the artifact exporter could not write its files', data: ['error'], highlight: null },
  'artifacts.pruned': { severity: 'info', meaning: 'old artifact runs were removed to keep the count and size limits', data: ['removed', 'kept_runs', 'total_bytes', 'keep_runs', 'max_bytes'], highlight: null },
  'artifacts.rebuilt': { severity: 'warning', meaning: "this run's artifact folder (or files in it) went missing while running and was rebuilt from the journal", data: ['run_id', 'missing', 'events', 'samples'], highlight: null },
  'artifacts.trimmed': { severity: 'notice', meaning: 'a torn tail of an artifact file was cut back at start', data: ['bytes'], highlight: null },
  'boot.reset_reason': { severity: 'warning', meaning: 'why the previous run ended (clean stop, crash, power loss, reboot)', data: ['run_id', 'cause', 'board_rebooted', '...'], highlight: null },
  'bundle.received': { severity: 'info', meaning: 'a bundle install began: the file was taken in', data: [...INSTALL, 'bytes', 'source'], highlight: null },
  'bundle.verified': { severity: 'info', meaning: "a bundle's signature and contents were checked", data: [...INSTALL, '...'], highlight: null },
  'bundle.staged': { severity: 'info', meaning: 'a bundle was unpacked into its slot', data: [...INSTALL, 'slot'], highlight: null },
  'bundle.activated': { severity: 'notice', meaning: "a bundle's slot became current", data: [...INSTALL, 'from', 'to'], highlight: null },
  'bundle.trial': { severity: 'info', meaning: 'a trial start of a newly activated bundle began', data: [...INSTALL, 'trial_starts', 'max_trial_starts', 'trial_ms'], highlight: null },
  'bundle.committed': { severity: 'notice', meaning: 'a bundle passed its trial and is the last known-good', data: [...INSTALL, 'pruned', '...'], highlight: null },
  'bundle.rejected': { severity: 'error', meaning: 'a bundle was refused (signature, limits, manifest)', data: [...INSTALL, 'check', 'code', '...'], highlight: null },
  'bundle.rolled_back': { severity: 'error', meaning: 'a bundle was rolled back to the previous slot (failed trial, launcher, or on request)', data: ['bundle_kind', 'name', 'bundle_id', 'from', 'to', '...'], highlight: 'recovery' },
  'bundle.failed': { severity: 'error', meaning: 'a bundle install failed (loop guard) or a bundle failed too often', data: ['bundle_id', 'name', 'version', 'failures', 'limit', '...'], highlight: null },
  'bundle.resumed': { severity: 'notice', meaning: 'an install interrupted by a restart is carried on', data: [...INSTALL, 'from_state'], highlight: null },
  'bundle.key_skipped': { severity: 'warning', meaning: 'a trusted-key file in etc/waveos/keys/ does not parse: it is ignored, the other keys still count', data: ['file', 'error'], highlight: null },
  'bundle.restart': { severity: 'notice', meaning: 'the daemon restarts through the launcher into a new WaveOS bundle', data: [...INSTALL], highlight: null },
  'chaos.enabled': { severity: 'warning', meaning: 'failure injection is on for this run (test rigs only)', data: ['seed', 'origin', 'rules'], highlight: null },
  'chaos.refused': { severity: 'warning', meaning: 'failure injection was asked for outside a test profile and refused', data: ['origin'], highlight: null },
  'clock.behind_journal': { severity: 'warning', meaning: "the wall clock at start is behind the journal's last event", data: ['now', 'last_event'], highlight: null },
  'clock.jumped': { severity: 'warning', meaning: 'the wall clock moved against the monotonic clock', data: ['delta_ms', 'from', 'to'], highlight: null },
  'config.changed': { severity: 'notice', meaning: "the configuration's hash differs from the previous run's", data: ['from', 'to', 'file'], highlight: null },
  'config.migrated': { severity: 'notice', meaning: 'the configuration file was migrated to the current version', data: ['from', 'to', 'file'], highlight: null },
  'daemon.fatal': { severity: 'critical', meaning: 'the daemon stops on an error it cannot go on with, or a start failed half-way (phase: start)', data: ['error', 'stack', 'phase', 'code'], highlight: null },
  'daemon.rss_ceiling': {
    severity: 'error',
    meaning: "the daemon's RSS stayed above recovery.rss_guard's ceiling: it stops cleanly (exit 75) to be started again",
    data: ['rss_bytes', 'ceiling_bytes', 'above_for_ms', 'memory', 'heap', 'heap_spaces', 'resource_usage'],
    highlight: 'recovery',
  },
  'daemon.start': { severity: 'info', meaning: 'a run began', data: ['previous_run', 'profile', 'config_hash', 'config_file', 'pid', 'node_version', 'recovered_artifact_events', 'trimmed_artifact_bytes'], highlight: null },
  'daemon.stop': { severity: 'info', meaning: 'a run ends cleanly', data: ['signal', 'uptime_s', 'chaos_injected'], highlight: null },
  'evidence.cleaned': { severity: 'notice', meaning: 'half-written evidence packs left by a crash were removed', data: ['removed'], highlight: null },
  'evidence.coalesced': { severity: 'info', meaning: 'an incident export joined one already scheduled', data: ['requested_by', 'coalesced', 'since', 'until'], highlight: null },
  'evidence.export_failed': { severity: 'error', meaning: 'an evidence pack could not be built', data: ['trigger', 'requested_by', 'since', 'until', 'error'], highlight: null },
  'evidence.key_created': { severity: 'notice', meaning: 'the device signing key for evidence packs was created', data: ['key_id', 'public_key', 'quarantined'], highlight: null },
  'evidence.key_replaced': { severity: 'error', meaning: 'the device key could not be read: it was moved aside and a new one made (enrol it)', data: ['key_id', 'public_key', 'quarantined'], highlight: null },
  'evidence.exported': { severity: 'info', meaning: 'an evidence pack was written', data: ['name', 'bytes', 'sha256', 'trigger', 'requested_by', 'since', 'until', 'events', 'first_seq', 'last_seq', 'samples', 'chain_verified', 'ms'], highlight: null },
  'evidence.pruned': { severity: 'info', meaning: 'old evidence packs were removed to keep the count and size limits', data: ['removed', 'kept', 'total_bytes', 'keep', 'max_bytes'], highlight: null },
  'evidence.scheduled': { severity: 'info', meaning: 'an incident export is scheduled after a short delay', data: ['requested_by', 'since', 'until', 'delay_ms'], highlight: null },
  'evidence.suppressed': { severity: 'warning', meaning: 'an incident export was refused: too many recently', data: ['requested_by', 'recent', 'limit', 'per_ms', 'incident'], highlight: null },
  'fleet.connected': { severity: 'notice', meaning: 'the fleet link connected to its MQTT broker', data: ['broker', 'session_present', 'reconnects', 'offline_ms'], highlight: null },
  'fleet.disconnected': { severity: 'warning', meaning: 'the fleet link lost its broker; it reconnects with backoff and keeps an outbox', data: ['broker', 'error', 'next_retry_ms'], highlight: null },
  'fleet.message_refused': { severity: 'warning', meaning: 'a fleet message (desired or command) failed its end-to-end checks and was refused', data: ['channel', 'code', 'seq', 'key_id', 'issuer', 'cmd_id'], highlight: null },
  'fleet.command': { severity: 'notice', meaning: 'a signed fleet command was accepted (its seq recorded) and is being carried out', data: ['cmd_id', 'action', 'seq', 'issuer', 'key_id'], highlight: null },
  'fleet.command_done': { severity: 'notice', meaning: 'a fleet command finished; its result was queued for the fleet', data: ['cmd_id', 'action', 'seq', 'outcome', 'reason'], highlight: null },
  'fleet.desired': { severity: 'notice', meaning: 'a signed desired state was accepted; its bundles are compared with what is installed', data: ['seq', 'issuer', 'bundles', 'changes'], highlight: null },
  'fleet.desired_waiting': { severity: 'info', meaning: 'desired updates wait: outside the maintenance windows, or the update lock is held', data: ['seq', 'why'], highlight: null },
  'fleet.desired_applied': { severity: 'notice', meaning: 'every bundle of a desired state is installed', data: ['seq', 'installed', 'config_revision', 'policy_revision'], highlight: null },
  'fleet.desired_failed': { severity: 'error', meaning: 'a desired bundle could not be downloaded or installed (rejected, rolled back)', data: ['seq', 'name', 'version', 'stage', 'error'], highlight: null },
  'fleet.download': { severity: 'info', meaning: 'a desired bundle was downloaded and its size and sha256 match', data: ['name', 'version', 'bytes', 'resumed_from', 'attempts', 'url'], highlight: null },
  'fleet.key_skipped': { severity: 'warning', meaning: 'a file in etc/waveos/fleet-keys/ is not a usable fleet key and adds no trust', data: ['file', 'error'], highlight: null },
  'fleet.outbox_dropped': { severity: 'warning', meaning: 'the fleet outbox was full: messages were dropped (counted)', data: ['channel', 'dropped', 'max_bytes'], highlight: null },
  'fleet.update_lock_stale': { severity: 'warning', meaning: 'the update lock is older than fleet.update_lock_max_age and is ignored', data: ['file', 'age_ms', 'reason'], highlight: null },
  'feature.degraded': { severity: 'warning', meaning: 'a feature was switched off (degrade action)', data: ['feature', 'degraded'], highlight: null },
  'feature.restored': { severity: 'notice', meaning: 'a degraded feature was switched on again', data: ['feature', 'degraded'], highlight: null },
  'input.skipped': { severity: 'warning', meaning: 'a file in a folder the daemon reads is not a regular file (a FIFO, a device, a socket) and was skipped unopened', data: ['file', 'type', 'reader'], highlight: null },
  'journal.disk_full': { severity: 'error', meaning: 'the journal cannot commit: the disk is full; events wait in memory', data: ['since', 'held_events', 'max_held_events'], highlight: null },
  'journal.disk_full_recovered': { severity: 'notice', meaning: 'the journal commits again after a full disk', data: ['seconds', 'retries'], highlight: null },
  'journal.read_only': { severity: 'error', meaning: 'the journal cannot commit: its files cannot be written (immutable, read-only mount, permissions); reads go on, events wait in memory', data: ['since', 'held_events', 'max_held_events', 'error'], highlight: null },
  'journal.writable_again': { severity: 'notice', meaning: "the journal's files can be written again after a read-only spell; what waited in memory is committed", data: ['seconds', 'retries'], highlight: null },
  'journal.missing': { severity: 'error', meaning: 'the journal file was missing at start; a new one was begun', data: ['file'], highlight: null },
  'journal.quarantined': { severity: 'critical', meaning: 'a corrupt journal was moved aside and a new one begun', data: ['files', 'problem'], highlight: null },
  'mode.changed': { severity: 'warning', meaning: 'the device mode changed (normal, degraded, safe, …)', data: ['from', 'to'], highlight: 'recovery' },
  'policy.loaded': { severity: 'info', meaning: 'the policy in force at start', data: ['from', 'to', 'files', 'rules', 'mode'], highlight: 'policy' },
  'policy.reloaded': { severity: 'notice', meaning: 'a changed policy was loaded and is in force', data: ['from', 'to', 'files', 'rules', 'mode'], highlight: 'policy' },
  'policy.rejected': { severity: 'error', meaning: 'a policy change was refused; the last good policy stays in force', data: ['kept_version', 'problems', 'messages', 'on'], highlight: 'policy' },
  'policy.decision': { severity: 'notice', meaning: 'a policy rule decided an action (performed through the action executor)', data: [...DECISION], highlight: 'policy' },
  'policy.alert': { severity: 'warning', meaning: "a policy's emit_event action without a kind of its own", data: [...DECISION], highlight: 'policy' },
  'policy.action_unresolved': { severity: 'warning', meaning: "a rule's action could not be resolved to something to do", data: [...DECISION], highlight: 'policy' },
  'policy.breaker_open': { severity: 'error', meaning: "a policy breaker opened: too many failures in its window", data: [...DECISION, 'breaker', 'state', 'failures_in_window', 'threshold'], highlight: 'policy' },
  'policy.breaker_half_open': { severity: 'notice', meaning: 'a policy breaker lets one try through after its open time', data: [...DECISION, 'breaker', 'state', 'failures_in_window', 'threshold'], highlight: 'policy' },
  'policy.breaker_closed': { severity: 'notice', meaning: 'a policy breaker closed again', data: [...DECISION, 'breaker', 'state', 'failures_in_window', 'threshold'], highlight: 'policy' },
  'policy.budget_exceeded': { severity: 'warning', meaning: 'a budget rule saw its budget exceeded', data: [...DECISION], highlight: 'policy' },
  'policy.rate_limited': { severity: 'warning', meaning: 'a rule fired more often than its rate limit allows', data: [...DECISION], highlight: 'policy' },
  'policy.suppressed': { severity: 'warning', meaning: "a rule's action was suppressed (cooldown or the mode)", data: [...DECISION], highlight: 'policy' },
  'policy.transition_refused': { severity: 'warning', meaning: 'a mode change a rule asked for is not allowed from the current mode', data: [...DECISION], highlight: 'policy' },
  'policy.webhook_delivered': { severity: 'info', meaning: "a policy webhook was delivered", data: ['rule_id', 'status', 'attempts', 'dropped_before', 'host'], highlight: 'policy' },
  'policy.webhook_failed': { severity: 'warning', meaning: 'a policy webhook could not be delivered', data: ['rule_id', 'attempts', 'errors', 'timeout_ms', 'dropped_before', 'host'], highlight: 'policy' },
  'proxy.breaker_open': { severity: 'warning', meaning: "the uplink proxy's breaker opened: requests are spooled", data: ['upstream', 'failures', 'open_ms', 'spooled'], highlight: null },
  'proxy.breaker_closed': { severity: 'notice', meaning: "the uplink proxy's breaker closed again", data: ['upstream', 'spooled'], highlight: null },
  'proxy.drained': { severity: 'notice', meaning: 'the proxy delivered what it had spooled', data: ['upstream', 'seconds', 'delivered', 'retries'], highlight: null },
  'proxy.refused': { severity: 'warning', meaning: 'the proxy refused requests (limits, spool full)', data: ['status', 'route', 'similar_since_last_event', 'details', '...'], highlight: null },
  'proxy.rejected': { severity: 'warning', meaning: 'the upstream rejected a spooled request for good', data: ['upstream', 'id', 'status', 'idempotency_key', 'route'], highlight: null },
  'recovery.degrade': { severity: 'warning', meaning: 'the recovery ladder moved a failing service (or the device) a step down', data: ['service', 'mode', 'mode_from', 'mode_to', 'failures_in_window', 'window_ms', 'level'], highlight: 'recovery' },
  'recovery.reboot_refused': { severity: 'critical', meaning: 'a reboot was refused: too many recent reboots', data: ['service', 'recent', 'max', 'window_ms'], highlight: 'recovery' },
  'recovery.reboot_requested': { severity: 'critical', meaning: 'the recovery ladder reboots the board', data: ['service', 'recent', 'max', 'window_ms', 'failures_in_window', 'command'], highlight: 'recovery' },
  'security.auth_throttled': { severity: 'warning', meaning: 'failed authentications on a control socket were throttled: requests refused unjudged', data: ['socket', 'refused', 'window_ms', 'burst'], highlight: null },
  'security.audit_failed': { severity: 'error', meaning: 'the audit log could not be written', data: ['error', 'failures'], highlight: null },
  'service.backoff': { severity: 'notice', meaning: 'a service that exited waits its backoff before the next start', data: ['service', 'delay_ms', 'attempt', 'failures_in_window', 'window_ms', 'code', 'signal', 'uptime_ms', 'health_failures', 'reset'], highlight: null },
  'service.exited': { severity: 'warning', meaning: 'a service process exited without being asked to', data: ['service', 'pid', 'code', 'signal', 'uptime_ms', 'restarts'], highlight: null },
  'service.failed': { severity: 'critical', meaning: 'a service failed for good: it needs an operator', data: ['service', 'failures_in_window', 'window_ms', 'needs_operator'], highlight: null },
  'service.not_restarted': { severity: 'warning', meaning: 'a service that exited is not restarted in the current mode', data: ['service', 'mode'], highlight: null },
  'service.not_started': { severity: 'info', meaning: 'a service is not started (held, or not run in the current mode)', data: ['service', 'mode', 'hold'], highlight: null },
  'service.orphan_stopped': { severity: 'warning', meaning: 'a service process a previous run left behind was stopped', data: ['service', 'pid', 'found', 'escalated_to_sigkill', 'waited_ms', 'previous_run_id'], highlight: null },
  'service.restart': { severity: 'info', meaning: 'a service was restarted', data: ['service', 'old_pid', 'pid', 'restarts', 'stop_waited_ms', 'escalated_to_sigkill'], highlight: 'recovery' },
  'service.restart_limited': { severity: 'warning', meaning: "a restart waits: a policy's rate limit on restarts", data: ['service', 'wait_ms', 'rule_id', 'backoff_ms'], highlight: 'recovery' },
  'service.started': { severity: 'info', meaning: 'a service process started', data: ['service', 'pid', 'restarts', 'command', 'args'], highlight: 'recovery' },
  'service.stopped': { severity: 'info', meaning: 'a service was stopped on request', data: ['service', 'pid', 'signal', 'stop_timeout_ms', 'waited_ms', 'escalated_to_sigkill', 'code', 'exit_signal'], highlight: 'recovery' },
  'service.unhealthy': { severity: 'warning', meaning: "a service's health check failed", data: ['service', 'pid', 'check', 'failures', 'interval_ms', 'detail', 'value'], highlight: null },
  'spool.disk_full': { severity: 'warning', meaning: 'the spool stopped writing: its quota or the free space ran out', data: ['usage_bytes', 'quota_bytes', 'free_bytes', 'min_free_bytes'], highlight: null },
  'spool.evicted': { severity: 'warning', meaning: 'the oldest spool files were removed to stay within the quota', data: ['files', 'bytes', 'by_source', 'usage_bytes', 'quota_bytes'], highlight: null },
  'spool.recovered': { severity: 'notice', meaning: 'the spool repaired what a crash left (torn lines, half compressions)', data: ['trimmed_bytes', 'compressions_undone', 'compressions_completed'], highlight: null },
  'spool.resumed': { severity: 'notice', meaning: 'the spool writes again after a full disk', data: ['dropped_lines', 'by_source', 'free_bytes', 'usage_bytes'], highlight: null },
  'spool.retention': { severity: 'info', meaning: 'spool files older than the retention were removed', data: ['files', 'bytes', 'by_source'], highlight: null },
  'spool.source_refused': { severity: 'warning', meaning: "lines on the shared log socket claiming WaveOS's or a supervised service's source were dropped", data: ['source', 'lines', 'connections', 'window_s', 'service_socket'], highlight: null },
  'spool.suppressed': { severity: 'warning', meaning: "lines of a source over its rate limit were dropped", data: ['source', 'lines', 'bytes', 'window_s', 'limit'], highlight: null },
  'telemetry.collector_failed': { severity: 'warning', meaning: 'a telemetry collector failed and backs off', data: ['collector', 'error', 'retry_in_ms', 'max_backoff_ms', 'interval_ms'], highlight: null },
  'telemetry.collector_recovered': { severity: 'notice', meaning: 'a telemetry collector works again', data: ['collector', 'failed_attempts', 'down_ms', 'errors_total'], highlight: null },
  'telemetry.chunk_corrupt': {
    severity: 'error',
    meaning: 'a stored metric chunk failed its checksum or structure check: its samples are left out of every read',
    data: ['chunk_id', 'series_id', 'name', 'labels', 'start_ms', 'end_ms', 'count', 'reason'],
    highlight: null,
  },
  'telemetry.quota_pruned': { severity: 'notice', meaning: 'the oldest metric history was deleted to keep its disk quota', data: ['quota_bytes', 'bytes', 'deleted_raw', 'deleted_aggregates', 'raw_oldest'], highlight: null },
  'telemetry.samples_dropped': { severity: 'warning', meaning: 'metric samples were dropped: the write buffer was full', data: ['dropped', 'max_buffered'], highlight: null },
  'telemetry.series_refused': { severity: 'warning', meaning: 'a new metric series was refused: the series limit is reached', data: ['metric', 'labels', 'series', 'max_series'], highlight: null },
  'trace.spans': { severity: 'info', meaning: 'finished trace spans, kept compactly for the evidence report (docs/observability.md)', data: ['spans', 'dropped'], highlight: null },
  'token.created': { severity: 'notice', meaning: 'an API token was created', data: ['name', 'role'], highlight: null },
  'token.revoked': { severity: 'notice', meaning: 'an API token was revoked', data: ['name'], highlight: null },
} as const satisfies Record<string, EventKindSpec>;

/** A kind from the catalogue. */
export type CatalogueKind = keyof typeof EVENT_KINDS;

declare const policyDefined: unique symbol;
/** A kind an operator's policy names in an emit_event action: checked for shape by policyEventKind, not listed. */
export type PolicyEventKind = string & { readonly [policyDefined]: true };

/** What a writer may put in EventInput.kind. */
export type EventKind = CatalogueKind | PolicyEventKind;

/** Dotted lowercase, most general first: the shape every kind has. */
export const EVENT_KIND_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/;

/** What a policy file may name as an emit_event kind (the policy schema checks the same): a dot is not required. */
export const POLICY_EVENT_KIND_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/;

/**
 * A policy's own kind, for emit_event actions: the one way a kind not in the catalogue reaches the journal.
 * Throws on a kind the policy schema would not have let through.
 */
export function policyEventKind(kind: string): EventKind {
  if (!POLICY_EVENT_KIND_PATTERN.test(kind)) throw new TypeError(`not a dotted event kind: ${JSON.stringify(kind)}`);
  return kind as PolicyEventKind;
}

export function isCatalogueKind(kind: string): kind is CatalogueKind {
  return Object.hasOwn(EVENT_KINDS, kind);
}

/** The catalogue's entry for a kind read back from a journal; undefined for kinds it does not list. */
export function eventKindSpec(kind: string): EventKindSpec | undefined {
  return isCatalogueKind(kind) ? EVENT_KINDS[kind] : undefined;
}

/**
 * The evidence report's highlight for an event of this kind. A kind the catalogue does not list is a policy's
 * own (emit_event) when it is under `policy.`, and highlighted as one.
 */
export function highlightOf(kind: string): Highlight | undefined {
  const spec = eventKindSpec(kind);
  if (spec) return spec.highlight ?? undefined;
  return kind.startsWith('policy.') ? 'policy' : undefined;
}
