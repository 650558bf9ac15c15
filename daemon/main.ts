import { existsSync, unlinkSync } from 'node:fs';
import { ApiServer, coreRoutes, localSocketAuthorizer } from './api/index.js';
import { ArtifactExporter, RUN_META_SCHEMA_VERSION, type RunMeta, writeRunMeta } from './artifacts/index.js';
import { BundleAgent, DefaultRuntime, InboxWatcher, bundleRoutes, faultHook, notifyLauncherReady, ownTree } from './bundles/index.js';
import { CURRENT_RUN_KEY, type CleanStopMarker, type RunRecord, currentRun, previousRunEnding, readMarker } from './boot/index.js';
import { type LoadedConfig, type Profile, loadConfig } from './config/index.js';
import {
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
  pathsFor,
  readBootId,
  readBuildStamp,
  systemClock,
  unlinkDurable,
  writeFileAtomic,
} from './core/index.js';
import { Journal } from './journal/index.js';

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
  const log: Logger = createLogger({ level: config.log.level, format: opts.logFormat ?? config.log.format, redact: config.log.redact });
  log.info(
    { profile: config.profile, config_file: loaded.file ?? null },
    loaded.file
      ? `config: ${loaded.file} (profile ${config.profile})`
      : `no config at ${paths.configFile}: running on the ${config.profile} profile's built-in defaults`,
  );
  for (const m of loaded.migrations) log.warn({ from: m.from, to: m.to }, `config migrated in memory from schema_version ${m.from} to ${m.to}: ${m.describe}`);

  ensureLayout(paths);
  claimPidFile(paths.pidFile);

  const startedMono = clock.monoMs();
  const bootId = readBootId(env);
  const runId = newRunId(clock.now());
  let fatal: (e: unknown) => never = (e) => {
    throw e;
  };
  const journal = Journal.openWriter(paths.db, {
    clock,
    runId,
    bootId,
    batchMax: config.journal.batch_max,
    batchDelayMs: config.journal.batch_delay_ms,
    onCommitError: (e) => fatal(e),
  });

  // How did the previous run end? Read before anything of this run is recorded.
  const prevRecord = currentRun(journal);
  const marker = readMarker(paths.cleanStopMarker);
  const previous = previousRunEnding(journal, prevRecord, marker, bootId);

  const exporter = new ArtifactExporter({
    journal,
    paths,
    log: log.child({ module: 'artifacts' }),
    runId,
    flushIntervalMs: config.artifacts.flush_interval_ms,
    keepRuns: config.artifacts.keep_runs,
    maxBytes: config.artifacts.max_bytes,
  });
  const recovered = exporter.recover(prevRecord?.run_id);

  const build = readBuildStamp();
  const startedAt = isoUtc(clock.now());
  // The update agent: constructed here so run_meta.json can name the installed bundles; started below.
  const bundleLog = log.child({ module: 'bundles' });
  const bundleRuntime = new DefaultRuntime({ paths, log: bundleLog, defaultTrialMs: config.bundles.trial_ms, env });
  let requestRestart: (reason: string) => void = () => undefined;
  let onVersionsChanged: () => void = () => undefined;
  const bundles = new BundleAgent({
    journal,
    paths,
    clock,
    log: bundleLog,
    settings: {
      limits: {
        maxBytes: config.bundles.max_bytes,
        maxFiles: config.bundles.max_files,
        maxPathLength: config.bundles.max_path_length,
        signatureThreshold: config.bundles.signature_threshold,
      },
      trialMs: config.bundles.trial_ms,
      maxTrialStarts: config.bundles.max_trial_starts,
      maxAttempts: config.bundles.max_attempts,
    },
    runtime: bundleRuntime,
    fault: faultHook(env, (point) => log.warn({ point }, `fault injection: killing the daemon at ${point} (WAVEOS_FAULT)`)),
    restartDaemon: (reason) => requestRestart(reason),
    underLauncher: env.WAVEOS_LAUNCHER === '1',
    selfTree: ownTree(),
    onVersionsChanged: () => onVersionsChanged(),
  });
  const inbox = new InboxWatcher({
    dir: paths.inboxDir,
    rejectedDir: paths.inboxRejectedDir,
    log: bundleLog,
    stableMs: config.bundles.inbox_stable_ms,
    install: (file) => bundles.install(file, { origin: 'inbox', requestedBy: 'inbox' }),
  });
  const bundleVersions = bundles.versions();
  const meta: RunMeta = {
    schema_version: RUN_META_SCHEMA_VERSION,
    run_id: runId,
    boot_id: bootId,
    started_at: startedAt,
    waveos_version: build.version,
    policy_version: bundleVersions.policy_version,
    bundle_ids: bundleVersions.bundle_ids,
    config_hash: loaded.hash,
    config_file: loaded.file ?? null,
    profile: config.profile,
    build: { git_commit: build.git_commit, git_dirty: build.git_dirty, built_at: build.built_at, node_version: process.version },
    device: { ...config.device },
    feature_flags: { ...config.feature_flags },
    previous_run: previous,
  };
  const runMetaFile = writeRunMeta(paths, meta);
  onVersionsChanged = () => {
    const v = bundles.versions();
    writeRunMeta(paths, { ...meta, policy_version: v.policy_version, bundle_ids: v.bundle_ids });
  };
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

  const status = (): Record<string, unknown> => ({
    run_id: runId,
    boot_id: bootId,
    device_id: config.device.device_id,
    mode: journal.getState<string>(MODE_KEY) ?? 'normal',
    health_score: null,
    versions: { waveos: build.version, policy: bundles.versions().policy_version, bundles: bundles.versions().bundle_ids },
    services: [],
    previous_run: previous,
    uptime_s: Math.round((clock.monoMs() - startedMono) / 1000),
    started_at: startedAt,
    profile: config.profile,
    root: paths.root,
    pid: process.pid,
    journal: { last_seq: journal.lastSeq() },
  });

  const api = new ApiServer({
    socketPath: paths.socket,
    routes: [...coreRoutes({ journal, status }), ...bundleRoutes(bundles)],
    authorize: localSocketAuthorizer(config.profile),
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
    journal.appendDurable({ kind: 'daemon.stop', source: 'daemon', reason: `stopping on ${signal} after ${uptime_s} s`, data: { signal, uptime_s } });
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
  await runner.start([exporter, bundleRuntime, bundles, inbox, api]);
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
