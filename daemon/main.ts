import { existsSync, readdirSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import cron from 'node-cron';
import { ApiServer, type Route, controlRoutes, coreRoutes, discoveryRoute, evidenceRoutes, logsRoutes, tokenRoutes } from './api/index.js';
import { ArtifactExporter, RUN_META_SCHEMA_VERSION, type RunMeta, writeRunMeta } from './artifacts/index.js';
import { bundleRoutes, installedVersions, notifyLauncherReady } from './bundles/index.js';
import { bundleUnits } from './compose/bundles.js';
import { CURRENT_RUN_KEY, type CleanStopMarker, type RunRecord, currentRun, previousRunEnding, readMarker } from './boot/index.js';
import { type LoadedConfig, type Profile, loadConfig } from './config/index.js';
import {
  Chaos,
  type ChaosSpec,
  type Clock,
  type LogFormat,
  type Logger,
  ModuleRunner,
  claimPidFile,
  createLogger,
  ensureLayout,
  errorMessage,
  isoUtc,
  newRunId,
  parseChaosEnv,
  pathsFor,
  readBootId,
  readBuildStamp,
  systemClock,
  unlinkDurable,
  writeFileAtomic,
} from './core/index.js';
import { Journal } from './journal/index.js';
import { EvidenceService, loadOrCreateDeviceKey, systemFacts } from './evidence/index.js';
import { PolicyRuntime, bundledPoliciesDir, decisionPerformer } from './policy-runtime/index.js';
import { createProxy } from './proxy/index.js';
import { ActionExecutor, CLOCK_JUMP_MS, HardwareWatchdog, MainLoop, Recovery, SdNotifier, captureResetReason } from './recovery/index.js';
import { AuditLog, TokenStore, resolveSecrets, tokenAuthorizer } from './security/index.js';
import { Supervisor } from './services/index.js';
import { createSpooler, readSpool, teeLogDestination } from './spooler/index.js';
import { Telemetry, metricsRoutes } from './telemetry/index.js';

/** The payload folders of the installed policy bundles (`slots/policy/<name>/current/payload`). */
function policyBundleDirs(slotsDir: string): string[] {
  const base = join(slotsDir, 'policy');
  try {
    return readdirSync(base, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => join(base, d.name, 'current', 'payload'))
      .filter((d) => existsSync(d));
  } catch {
    return [];
  }
}

export interface RunOptions {
  root: string;
  configFile?: string;
  profile?: Profile;
  logFormat?: LogFormat;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
}

const HARD_EXIT_MS = 2_000;
const CONFIG_HASH_KEY = 'config.hash';
const MODE_KEY = 'mode.current';

/** Loads and validates the config before anything is written: a bad config changes nothing on disk. */
export function loadDaemonConfig(opts: RunOptions): LoadedConfig {
  const paths = pathsFor(opts.root);
  return loadConfig({ explicitFile: opts.configFile, defaultFile: paths.configFile, profile: opts.profile, fileExists: existsSync });
}

/**
 * The composition root. Start-up is recovery: open the journal, repair artifacts, work out how the last
 * run ended, resolve interrupted intents, then serve. Returns once the daemon serves; it exits the process
 * itself on a signal or a fatal error.
 */
export async function runDaemon(opts: RunOptions): Promise<void> {
  const loaded = loadDaemonConfig(opts);
  const { config } = loaded;
  const paths = pathsFor(opts.root);
  const clock = opts.clock ?? systemClock;
  const env = opts.env ?? process.env;
  // Secrets are read before anything is written: one that cannot be read is a config error (exit 2).
  const secrets = resolveSecrets(config.secrets, env);
  // Failure injection for test rigs: WAVEOS_CHAOS wins over the config's section; a malformed one is a config error.
  const chaosEnv = env.WAVEOS_CHAOS?.trim() ? parseChaosEnv(env.WAVEOS_CHAOS) : undefined;
  const chaosSpec: ChaosSpec | undefined = chaosEnv ?? (config.chaos ? { ...config.chaos, origin: 'config' } : undefined);
  // The prod profile never injects faults, whatever the environment says (its config refuses the section).
  const chaosRefused = config.profile === 'prod' && chaosSpec !== undefined;
  const chaos = new Chaos(chaosRefused ? undefined : chaosSpec);
  // The daemon's own log goes to stdout as before and, through the spooler, to the spool as source `waveos`.
  const selfLog = teeLogDestination();
  const log: Logger = createLogger({ level: config.log.level, format: opts.logFormat ?? config.log.format, redact: config.log.redact, destination: selfLog.destination });
  log.info(
    { profile: config.profile, config_file: loaded.file ?? null },
    loaded.file
      ? `config: ${loaded.file} (profile ${config.profile})`
      : `no config at ${paths.configFile}: running on the ${config.profile} profile's built-in defaults`,
  );
  for (const m of loaded.migrations) log.warn({ from: m.from, to: m.to }, `config migrated in memory from schema_version ${m.from} to ${m.to}: ${m.describe}`);

  ensureLayout(paths);
  // Type=notify: a NOTIFY_SOCKET that cannot be written is a start-up error, never a warning.
  const notifier = new SdNotifier(env);
  try {
    notifier.send('STATUS=WaveOS starting: recovering');
  } catch (e) {
    notifier.close();
    throw e;
  }
  claimPidFile(paths.pidFile);

  const startedMono = clock.monoMs();
  const bootId = readBootId(env);
  const runId = newRunId(clock.now());
  let fatal: (e: unknown) => never = (e) => {
    throw e;
  };
  // After an unclean stop (no clean-stop marker) the journal gets a quick_check: a power cut may have damaged it.
  const opened = Journal.openForStart(paths.db, {
    quickCheck: !existsSync(paths.cleanStopMarker),
    clock,
    runId,
    bootId,
    batchMax: config.journal.batch_max,
    batchDelayMs: config.journal.batch_delay_ms,
    onCommitError: (e) => fatal(e),
    chaos,
  });
  const { journal } = opened;
  // The last event the previous runs recorded: a clock now behind it was set back (or has no RTC).
  const lastEvent = journal.lastSeq() > 0 ? journal.events({ afterSeq: journal.lastSeq() - 1, limit: 1 })[0] : undefined;
  const lastEventTs = lastEvent ? Date.parse(lastEvent.ts) : undefined;

  // How did the previous run end? Read before anything of this run is recorded.
  const prevRecord = currentRun(journal);
  const marker = readMarker(paths.cleanStopMarker);
  const previous = previousRunEnding(journal, prevRecord, marker, bootId);
  const resetReason = previous ? captureResetReason({ previous, journal, bootId, sysfs: config.recovery.sysfs, env }) : null;
  if (previous && resetReason) Object.assign(previous, { reset_reason: resetReason.summary, reset_cause: resetReason.cause, reset_evidence: resetReason.evidence });

  const exporter = new ArtifactExporter({
    journal,
    paths,
    log: log.child({ module: 'artifacts' }),
    runId,
    flushIntervalMs: config.artifacts.flush_interval_ms,
    keepRuns: config.artifacts.keep_runs,
    maxBytes: config.artifacts.max_bytes,
    chaos,
  });
  const recovered = exporter.recover(prevRecord?.run_id);

  // The policy runtime; its policy is loaded once this run is recorded (below), and run_meta follows its version.
  const policy = new PolicyRuntime({
    clock,
    log: log.child({ module: 'policy' }),
    // Installed policy bundles come after the folders, so a signed bundle's file wins over a local one of the same name.
    dirs: () => [
      ...(config.policy.examples ? [bundledPoliciesDir()] : []),
      ...config.policy.extra_dirs.map((d) => resolve(paths.root, d)),
      paths.policiesDir,
      ...policyBundleDirs(paths.slotsDir),
    ],
    createDirs: [paths.policiesDir],
    tickIntervalMs: config.policy.tick_interval_ms,
    webhook: config.policy.webhook,
    emit: (e) => journal.append(e),
    // Every decision is journaled with its numbers, then performed through the action executor.
    execute: (d) => performDecision(d),
    state: { get: (k) => journal.getState(k), set: (k, v) => journal.setState(k, v) },
    initialMode: journal.getState<string>(MODE_KEY),
    onPolicyChange: (set) => {
      meta.policy_version = set.version;
      writeRunMeta(paths, meta);
    },
  });

  const build = readBuildStamp();
  const startedAt = isoUtc(clock.now());
  const meta: RunMeta = {
    schema_version: RUN_META_SCHEMA_VERSION,
    run_id: runId,
    boot_id: bootId,
    started_at: startedAt,
    waveos_version: build.version,
    // The enforced policy's version: the policy runtime sets it once the policy files are loaded.
    policy_version: null,
    bundle_ids: installedVersions(paths).bundle_ids,
    config_hash: loaded.hash,
    config_file: loaded.file ?? null,
    profile: config.profile,
    build: { git_commit: build.git_commit, git_dirty: build.git_dirty, built_at: build.built_at, node_version: process.version },
    device: { ...config.device },
    feature_flags: { ...config.feature_flags },
    previous_run: previous,
  };
  const runMetaFile = writeRunMeta(paths, meta);
  const previousHash = journal.getState<string>(CONFIG_HASH_KEY);
  const record: RunRecord = { run_id: runId, boot_id: bootId, started_at: startedAt, pid: process.pid };
  journal.setStates({ [CURRENT_RUN_KEY]: record, [CONFIG_HASH_KEY]: loaded.hash });
  // Only now, with this run recorded, may the marker go: a crash in between still reads as "not clean".
  unlinkDurable(paths.cleanStopMarker);

  journal.resolveInterruptedIntents();
  if (previousHash !== undefined && previousHash !== loaded.hash) {
    journal.append({
      kind: 'config.changed',
      severity: 'notice',
      source: 'config',
      reason: `the effective config changed since the previous run (${previousHash.slice(0, 12)} → ${loaded.hash.slice(0, 12)})`,
      data: { from: previousHash, to: loaded.hash, file: loaded.file ?? null },
    });
  }
  for (const m of loaded.migrations) {
    journal.append({
      kind: 'config.migrated',
      severity: 'notice',
      source: 'config',
      reason: `the config file is written for schema_version ${m.from}; it was migrated in memory to ${m.to}: ${m.describe}`,
      data: { from: m.from, to: m.to, file: loaded.file ?? null },
    });
  }
  journal.appendDurable({
    kind: 'daemon.start',
    severity: previous && previous.ended !== 'clean' ? 'warning' : 'info',
    source: 'daemon',
    reason: previous
      ? `WaveOS ${build.version} started run ${runId}; the previous run ${previous.run_id} ended ${previous.ended}: ${previous.reset_reason}`
      : `WaveOS ${build.version} started run ${runId}; no previous run is recorded on this root`,
    data: {
      previous_run: previous,
      profile: config.profile,
      config_hash: loaded.hash,
      config_file: loaded.file ?? null,
      pid: process.pid,
      node_version: process.version,
      recovered_artifact_events: recovered.events,
      trimmed_artifact_bytes: recovered.trimmedBytes,
    },
  });

  if (lastEventTs !== undefined && clock.now() < lastEventTs - CLOCK_JUMP_MS) {
    journal.append({
      kind: 'clock.behind_journal',
      severity: 'warning',
      source: 'daemon',
      reason: `the wall clock (${isoUtc(clock.now())}) is ${formatMs(lastEventTs - clock.now())} behind the journal's last event (${isoUtc(lastEventTs)}): it was set back, or the board has no RTC and has not synced yet; event timestamps will run behind until it does`,
      data: { now: isoUtc(clock.now()), last_event: isoUtc(lastEventTs) },
    });
  }
  if (opened.quarantined) {
    const q = opened.quarantined;
    journal.appendDurable({
      kind: 'journal.quarantined',
      severity: 'critical',
      source: 'journal',
      reason: `the journal was damaged (${q.problem}): it was moved aside to ${q.files[0] ?? '?'} and this new journal begins at seq 1; the old one is kept for recovery, and the run folders under artifacts/ still hold its events`,
      data: { files: q.files, problem: q.problem },
    });
    log.error({ files: q.files, problem: q.problem }, 'the journal was damaged: moved aside, a new journal begins');
  } else if (opened.missing && hasRunFolders(paths.artifactsDir)) {
    journal.appendDurable({
      kind: 'journal.missing',
      severity: 'error',
      source: 'journal',
      reason: `there was no journal at ${paths.db} although run folders exist under ${paths.artifactsDir}: a new journal begins at seq 1 (was it deleted?)`,
      data: { file: paths.db },
    });
  }
  if (chaos.enabled) {
    const { rules, seed } = chaos.stats();
    journal.append({
      kind: 'chaos.enabled',
      severity: 'warning',
      source: 'chaos',
      reason: `failure injection is on (${chaosSpec?.origin === 'env' ? 'WAVEOS_CHAOS' : 'the config'}), seed ${seed}: ${rules.map((r) => `${r.point} ${r.effect} at ${r.rate}`).join(', ')}; this is a test rig, not a device in the field`,
      data: { seed, origin: chaosSpec?.origin ?? null, rules },
    });
    log.warn({ seed, rules }, 'chaos: failure injection is on');
  } else if (chaosRefused) {
    journal.append({
      kind: 'chaos.refused',
      severity: 'warning',
      source: 'chaos',
      reason: 'WAVEOS_CHAOS is set but the prod profile never injects failures: it is ignored',
      data: { origin: chaosSpec?.origin ?? null },
    });
    log.warn('chaos: WAVEOS_CHAOS is ignored in the prod profile');
  }

  // The LogSink for supervised services' stdout/stderr, and the run/waveos/log.sock ingestion socket.
  const spooler = createSpooler({
    clock,
    log: log.child({ module: 'spooler' }),
    spoolDir: paths.spoolDir,
    socketPath: paths.logSocket,
    settings: config.spooler,
    events: journal,
    chaos,
  });
  spooler.attach('waveos', selfLog.copy, 'stdout');
  // The uplink proxy, off unless `proxy.enabled`; its stats() feed the metrics registry.
  const proxy = config.proxy.enabled
    ? createProxy({ clock, log: log.child({ module: 'proxy' }), settings: config.proxy, dir: paths.proxyDir, socketPath: paths.proxySocket, events: journal, chaos })
    : undefined;

  if (previous && resetReason) {
    journal.append({
      kind: 'boot.reset_reason',
      severity: resetReason.cause.startsWith('clean-stop') ? 'info' : 'warning',
      source: 'recovery',
      reason: `the previous run ${previous.run_id} ended: ${resetReason.summary}`,
      data: { run_id: previous.run_id, cause: resetReason.cause, board_rebooted: resetReason.board_rebooted, ...resetReason.evidence },
    });
  }

  // Children do not inherit the daemon's own service-manager hand-offs.
  const childEnv = { ...env };
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'WAVEOS_TEST_STALL_FILE']) delete childEnv[k];
  const supervisor = new Supervisor({
    specs: config.services,
    journal,
    clock,
    log: log.child({ module: 'services' }),
    sink: spooler,
    root: paths.root,
    runId,
    env: childEnv,
  });
  const executor = new ActionExecutor({ journal, log: log.child({ module: 'executor' }) });
  const recovery = new Recovery({
    executor,
    supervisor,
    journal,
    clock,
    log: log.child({ module: 'recovery' }),
    config: config.recovery,
    root: paths.root,
    admitRestart: (service) => policy.admit('service.restart', service),
  });
  const mainLoop = new MainLoop({
    log: log.child({ module: 'main-loop' }),
    notifier,
    hardware: config.recovery.watchdog.device ? new HardwareWatchdog(config.recovery.watchdog.device) : undefined,
    tickMs: config.recovery.watchdog.tick_ms,
    stallFile: env.WAVEOS_TEST_STALL_FILE,
    // Timestamps jump with the wall clock; the journal says when and how far, so a reader can line them up.
    onClockJump: (j) =>
      journal.append({
        kind: 'clock.jumped',
        severity: 'warning',
        source: 'daemon',
        reason: `the wall clock jumped ${j.deltaMs > 0 ? 'forward' : 'back'} by ${formatMs(Math.abs(j.deltaMs))} (from ${isoUtc(j.fromMs)} to ${isoUtc(j.toMs)}); event timestamps follow it, seq and monotonic times do not`,
        data: { delta_ms: j.deltaMs, from: isoUtc(j.fromMs), to: isoUtc(j.toMs) },
      }),
    summary: () => {
      const list = supervisor.list();
      const up = list.filter((s) => s.state === 'running').length;
      const failed = list.filter((s) => s.state === 'failed').length;
      return `mode ${recovery.mode()}; ${up}/${list.length} services running${failed ? `, ${failed} failed` : ''}; journal seq ${journal.lastSeq()}`;
    },
  });
  const telemetry = new Telemetry({
    journal,
    config: config.telemetry,
    clock,
    log: log.child({ module: 'telemetry' }),
    paths,
    services: () => supervisor.list(),
    onSamples: (samples) => policy.observe(samples),
    chaos,
  });
  telemetry.registerQueue('journal.batch', () => journal.pendingCount);
  policy.load();
  journal.onCommit((events) => policy.observeJournalEvents(events));
  const deviceKey = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, config.device.device_id, clock.now());
  if (deviceKey.created) {
    journal.appendDurable({
      kind: deviceKey.quarantined ? 'evidence.key_replaced' : 'evidence.key_created',
      severity: deviceKey.quarantined ? 'error' : 'notice',
      source: 'evidence',
      reason: deviceKey.quarantined
        ? `the device key could not be read (${deviceKey.problem}); it was moved to ${deviceKey.quarantined} and a new key ${deviceKey.key.keyId} made: enrol the new public key`
        : `created the device signing key ${deviceKey.key.keyId}; its public half is ${paths.devicePub}`,
      data: { key_id: deviceKey.key.keyId, public_key: deviceKey.key.publicKeyB64, quarantined: deviceKey.quarantined ?? null },
    });
  }
  const waveosInfo = { version: build.version, git_commit: build.git_commit, git_dirty: build.git_dirty, built_at: build.built_at, node_version: process.version };
  const evidence = new EvidenceService({
    journal,
    paths,
    clock,
    log: log.child({ module: 'evidence' }),
    bootId,
    key: deviceKey.key,
    device: { ...config.device },
    waveos: waveosInfo,
    runId,
    config,
    configFile: loaded.file,
    policyFiles: () => listPolicyFiles(paths.policiesDir),
    env,
    systemFacts: () => systemFacts(env, { waveos: build.version }),
    settings: config.evidence,
    scheduler: (expr, fn) => cron.schedule(expr, fn, { name: 'evidence', noOverlap: true }),
    chaos,
    // A secret read from a variable named like any other (WAVEOS_UPLINK_KEY) is still a secret.
    secretValues: () => secrets.list(),
  });

  recovery.setModeHook((from, to) => {
    const v = policy.canTransition(from, to);
    return v.allowed ? true : v.reason;
  });
  let requestRestart: (reason: string) => void = () => undefined;
  const { agent: bundles, inbox, handlers: bundleHandlers } = bundleUnits({
    journal,
    paths,
    clock,
    log,
    config,
    env,
    executor,
    supervisor,
    restartDaemon: (reason) => requestRestart(reason),
    onVersionsChanged: () => {
      meta.bundle_ids = installedVersions(paths).bundle_ids;
      writeRunMeta(paths, meta);
      // A committed or rolled-back policy bundle changes what is enforced.
      policy.reload('request');
    },
  });
  executor.install({ ...recovery.handlers(), ...bundleHandlers });
  const performDecision = decisionPerformer({
    journal,
    clock,
    log: log.child({ module: 'policy' }),
    run: (req) => executor.run(req),
    exportEvidence: (r) => evidence.exportEvidence(r),
    mode: () => recovery.mode(),
    observeEvent: (o) => policy.observeEvent(o),
  });

  const status = (): Record<string, unknown> => ({
    run_id: runId,
    boot_id: bootId,
    device_id: config.device.device_id,
    mode: journal.getState<string>(MODE_KEY) ?? 'normal',
    health_score: telemetry.health().score,
    health: telemetry.health(),
    versions: { waveos: build.version, policy: policy.version, bundles: bundles.versions().bundle_ids },
    policy: policy.snapshot(),
    services: supervisor.list(),
    previous_run: previous,
    uptime_s: Math.round((clock.monoMs() - startedMono) / 1000),
    started_at: startedAt,
    profile: config.profile,
    root: paths.root,
    pid: process.pid,
    journal: { last_seq: journal.lastSeq(), disk_full: journal.diskFull() ?? null },
    telemetry: { prometheus: telemetry.prometheusUrl, prometheus_error: telemetry.prometheusError, collectors_failing: telemetry.collectors().filter((c) => !c.ok).map((c) => c.name) },
    device_public_key: deviceKey.key.publicKeyB64,
    device_key_id: deviceKey.key.keyId,
    ...(chaos.enabled ? { chaos: chaos.stats() } : {}),
  });

  const tokens = new TokenStore(paths.tokensFile, clock);
  // Said once a minute at most: under a full disk every request would say it again.
  let auditFailures = 0;
  let auditWarnedMono = Number.NEGATIVE_INFINITY;
  const auditFailed = (e: unknown): void => {
    auditFailures++;
    if (clock.monoMs() - auditWarnedMono < 60_000) return;
    auditWarnedMono = clock.monoMs();
    log.error({ err: errorMessage(e), failures: auditFailures }, 'the audit log cannot be written: reads go on, state-changing requests are refused');
    journal.append({
      kind: 'security.audit_failed',
      severity: 'error',
      source: 'security',
      reason: `the audit log ${paths.auditLog} cannot be written (${errorMessage(e)}): reads go on unaudited, state-changing requests are refused until it can (${auditFailures} failures so far)`,
      data: { error: errorMessage(e), failures: auditFailures },
    });
  };
  const routes: Route[] = [
    ...coreRoutes({ journal, status }),
    ...tokenRoutes({ store: tokens, journal }),
    ...metricsRoutes(telemetry),
    ...bundleRoutes(bundles),
    ...logsRoutes({ readLogs: (q) => readSpool(paths.spoolDir, q.source, q), flush: () => spooler.drain() }),
    ...controlRoutes({ services: supervisor, mode: () => recovery.mode(), run: (req) => executor.run(req) }),
    ...evidenceRoutes({
      exportNow: (r) => evidence.exportNow(r),
      list: () => evidence.list(),
      packPath: (n) => evidence.packPath(n),
      publicKey: evidence.publicKey,
      keyId: evidence.keyId,
    }),
  ];
  routes.push(discoveryRoute(() => routes));
  const api = new ApiServer({
    socketPath: paths.socket,
    socketGroup: config.api.socket_group ?? undefined,
    routes,
    authorize: tokenAuthorizer({ store: tokens, audit: new AuditLog(paths.auditLog, clock), profile: config.profile, onAuditFailure: (e) => auditFailed(e) }),
    log: log.child({ module: 'api' }),
  });
  const runner = new ModuleRunner(log);

  let stopping = false;
  fatal = (e: unknown): never => {
    log.fatal({ err: errorMessage(e), stack: e instanceof Error ? e.stack : undefined }, 'fatal error: exiting so that the service manager restarts WaveOS');
    try {
      journal.appendDurable({
        kind: 'daemon.fatal',
        severity: 'critical',
        source: 'daemon',
        reason: `fatal error, exiting so that the service manager restarts WaveOS: ${errorMessage(e)}`,
        data: { error: errorMessage(e), stack: e instanceof Error ? (e.stack ?? '').split('\n').slice(0, 8) : [] },
      });
    } catch {
      // the journal itself may be what failed; the next start reads the missing clean-stop marker
    }
    process.exit(70);
  };
  process.on('uncaughtException', (e) => fatal(e));
  process.on('unhandledRejection', (e) => fatal(e));

  const shutdown = async (signal: NodeJS.Signals, exitCode = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    // If stopping hangs, exit anyway: no marker is written, so the next start treats it as unclean.
    setTimeout(() => {
      log.error(`stop took longer than ${HARD_EXIT_MS} ms; exiting without the clean-stop marker`);
      process.exit(1);
    }, HARD_EXIT_MS).unref();
    const uptime_s = Math.round((clock.monoMs() - startedMono) / 1000);
    journal.appendDurable({ kind: 'daemon.stop', source: 'daemon', reason: `stopping on ${signal} after ${uptime_s} s`, data: { signal, uptime_s, ...(chaos.enabled ? { chaos_injected: chaos.stats().injected } : {}) } });
    await runner.stop();
    const lastSeq = journal.lastSeq();
    journal.close();
    const m: CleanStopMarker = { run_id: runId, stopped_at: isoUtc(clock.now()), signal, last_seq: lastSeq };
    writeFileAtomic(paths.cleanStopMarker, `${JSON.stringify(m)}\n`);
    try {
      unlinkSync(paths.pidFile);
    } catch {
      // already gone
    }
    log.info({ signal, last_seq: lastSeq }, 'stopped cleanly');
    process.exit(exitCode);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  // Exit code 75 asks the launcher to start the daemon again, from the new `waveos` slot.
  requestRestart = (reason) => {
    log.warn({ reason }, `${reason}: exiting with code 75 for the launcher`);
    void shutdown('SIGTERM', 75);
  };
  await runner.start([exporter, spooler, ...(proxy ? [proxy] : []), supervisor, executor, recovery, telemetry, policy, evidence, bundles, inbox, api, mainLoop]);
  mainLoop.ready();
  log.info({ secrets }, `${secrets.list().length} secret(s) loaded from their configured sources`);
  log.info(
    {
      run_id: runId,
      root: paths.root,
      socket: paths.socket,
      journal: paths.db,
      artifacts: runMetaFile.replace(/\/run_meta\.json$/, ''),
      config: loaded.file ?? `(built-in ${config.profile} defaults; put a config at ${paths.configFile})`,
    },
    `WaveOS ${build.version} ready: root ${paths.root}, socket ${paths.socket}, journal ${paths.db}, artifacts ${paths.artifactsLatest}`,
  );
  notifyLauncherReady(env);
}

function formatMs(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function hasRunFolders(dir: string): boolean {
  try {
    return readdirSync(dir, { withFileTypes: true }).some((d) => d.isDirectory());
  } catch {
    return false;
  }
}

function listPolicyFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => /\.ya?ml$/.test(n))
      .sort()
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
}
