import { ApiServer, type Route, controlRoutes, coreRoutes, discoveryRoute, evidenceRoutes, logsRoutes, modeReasonOf, statusDocument, tokenRoutes } from '../api/index.js';
import { type BundleAgent, bundleRoutes } from '../bundles/index.js';
import type { EvidenceService } from '../evidence/index.js';
import type { PolicyRuntime } from '../policy-runtime/index.js';
import type { ActionExecutor, Recovery } from '../recovery/index.js';
import { AuditLog, AuthThrottle, THROTTLE_SUMMARY_MS, TokenStore, auditFailureReporter, tokenAuthorizer } from '../security/index.js';
import type { Supervisor } from '../services/index.js';
import { readSpool } from '../spooler/index.js';
import { type Telemetry, metricsRoutes } from '../telemetry/index.js';
import type { BootContext } from './open.js';
import { policyDirs, policyFilesOnDisk, rejectedPolicyFiles } from './policy.js';
import { installedBundles } from './startup.js';

export interface ApiUnitDeps {
  executor: ActionExecutor;
  supervisor: Supervisor;
  recovery: Recovery;
  policy: PolicyRuntime;
  telemetry: Telemetry;
  evidence: EvidenceService;
  bundles: BundleAgent;
  spooler: { drain(): Promise<void> };
  /** Routes of optional units (the fleet link's). */
  extraRoutes?: Route[];
}

/** The status document's sources: read at every request. */
function status(boot: BootContext, d: ApiUnitDeps): () => Record<string, unknown> {
  const { config, journal, paths, chaos } = boot;
  const identity = {
    run_id: boot.runId,
    boot_id: boot.bootId,
    device_id: config.device.device_id,
    started_at: boot.startedAt,
    profile: config.profile,
    root: paths.root,
    pid: process.pid,
    device_public_key: d.evidence.publicKey,
    device_key_id: d.evidence.keyId,
  };
  return () =>
    statusDocument({
      clock: boot.clock,
      identity,
      startedMono: boot.startedMono,
      previousRun: boot.previous,
      mode: () => d.recovery.mode(),
      health: () => d.telemetry.health(),
      versions: () => ({ waveos: boot.build.version, policy: d.policy.version, bundles: d.bundles.versions().bundle_ids, bundles_by_name: installedBundles(paths, journal) }),
      policy: () => d.policy.snapshot(),
      modeReason: () => modeReasonOf(d.recovery.mode(), journal.lastEventOf('mode.changed'), d.policy.policy.rules),
      rejectedPolicies: () => {
        // A rejection journaled a moment ago may still be queued: commit it before it is looked for.
        journal.flushForRead();
        return rejectedPolicyFiles(journal, d.policy.policy.files, policyFilesOnDisk(policyDirs(config, paths)), (t) => boot.redactor.text(t));
      },
      services: () => d.supervisor.list(),
      journal: () => ({ last_seq: journal.lastSeq(), disk_full: journal.diskFull() ?? null, read_only: journal.readOnly() ?? null }),
      telemetry: () => ({
        prometheus: d.telemetry.prometheusUrl,
        prometheus_error: d.telemetry.prometheusError,
        collectors_failing: d.telemetry.collectors().filter((c) => !c.ok).map((c) => c.name),
      }),
      chaos: () => (chaos.enabled ? chaos.stats() : undefined),
    });
}

/** The control API on the unix socket: every route, token RBAC, and the audit log. */
export function apiUnit(boot: BootContext, d: ApiUnitDeps): ApiServer {
  const { journal, paths, clock, config, log } = boot;
  const tokens = new TokenStore(paths.tokensFile, clock);
  const routes: Route[] = [
    ...coreRoutes({ journal, status: status(boot, d) }),
    ...tokenRoutes({ store: tokens, journal }),
    ...metricsRoutes(d.telemetry),
    ...bundleRoutes(d.bundles),
    ...logsRoutes({ readLogs: (q) => readSpool(paths.spoolDir, q.source, q), flush: () => d.spooler.drain() }),
    ...controlRoutes({ services: d.supervisor, mode: () => d.recovery.mode(), run: (req) => d.executor.run(req) }),
    ...evidenceRoutes({
      exportNow: (r) => d.evidence.exportNow(r),
      list: () => d.evidence.list(),
      packPath: (n) => d.evidence.packPath(n),
      publicKey: d.evidence.publicKey,
      keyId: d.evidence.keyId,
    }),
    ...(d.extraRoutes ?? []),
  ];
  routes.push(discoveryRoute(() => routes));
  // Evidence is made before telemetry exists (the policy between them needs it); here both do.
  d.evidence.flushBeforeEachPack(() => d.telemetry.flushHistory());
  const onAuditFailure = auditFailureReporter({ journal, log, clock, file: paths.auditLog });
  const audit = new AuditLog(paths.auditLog, clock);
  const burst = config.api.auth_failure_burst;
  const throttle = new AuthThrottle({
    burst,
    clock,
    // One record and one event per window, whatever the number of guesses: the throttling is audited, not each refusal.
    onSummary: (socket, refused) => {
      const reason = `${refused} requests on the ${socket} socket refused unjudged in ${THROTTLE_SUMMARY_MS / 1000} s: more than ${burst} failed authentications (then one a second is judged)`;
      try {
        audit.append({ decision: 'deny', token: null, role: null, action: 'authenticate', target: null, reason, socket });
      } catch (e) {
        onAuditFailure(e);
      }
      journal.append({ kind: 'security.auth_throttled', severity: 'warning', source: 'security', reason, data: { socket, refused, window_ms: THROTTLE_SUMMARY_MS, burst } });
    },
  });
  return new ApiServer({
    socketPath: paths.socket,
    socketGroup: config.api.socket_group ?? undefined,
    // Prod's token socket is open to every local user with a token; dev's is the developer's own.
    socketMode: config.profile === 'prod' ? 0o666 : 0o600,
    groupSockets: [
      { kind: 'admin', path: paths.adminSocket, group: config.api.admin_group },
      { kind: 'viewer', path: paths.viewerSocket, group: config.api.viewer_group },
    ],
    throttle,
    routes,
    authorize: tokenAuthorizer({ store: tokens, audit, profile: config.profile, onAuditFailure }),
    log: log.child({ module: 'api' }),
  });
}
