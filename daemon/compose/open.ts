import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { PreviousRun } from '../artifacts/index.js';
import { type RunRecord, currentRun, previousRunEnding, readMarker } from '../boot/index.js';
import { type Config, type LoadedConfig, type Profile, loadConfig } from '../config/index.js';
import {
  type BuildStamp,
  Chaos,
  type ChaosSpec,
  type Clock,
  type LogFormat,
  type Logger,
  type Paths,
  claimPidFile,
  createLogger,
  ensureLayout,
  isoUtc,
  newRunId,
  parseChaosEnv,
  pathsFor,
  readBootId,
  readBuildStamp,
  systemClock,
} from '../core/index.js';
import { Journal } from '../journal/index.js';
import { type ResetReason, SdNotifier, captureResetReason } from '../recovery/index.js';
import { type Redactor, type Secrets, daemonRedactor, resolveSecrets } from '../security/index.js';
import { pinoLinePriority, teeLogDestination } from '../spooler/index.js';
import { fatalExit } from './fatal.js';

export interface RunOptions {
  root: string;
  configFile?: string;
  profile?: Profile;
  logFormat?: LogFormat;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
}

/** Everything start-up opened and learned before any unit is built; frozen, handed to every builder. */
export interface BootContext {
  readonly loaded: LoadedConfig;
  readonly config: Config;
  readonly paths: Paths;
  readonly clock: Clock;
  readonly env: NodeJS.ProcessEnv;
  readonly secrets: Secrets;
  /** The one redactor, built once from the secrets, the environment, the config and its patterns; every store uses it. */
  readonly redactor: Redactor;
  readonly chaos: Chaos;
  /** Where failure injection was asked for, and whether the prod profile refused it. */
  readonly chaosAsked: { origin: ChaosSpec['origin'] | null; refused: boolean };
  readonly log: Logger;
  /** The daemon's own log lines, for the spooler to keep as source `waveos`. */
  readonly selfLog: Readable;
  readonly notifier: SdNotifier;
  readonly journal: Journal;
  readonly journalOpened: Pick<ReturnType<typeof Journal.openForStart>, 'quarantined' | 'missing'>;
  readonly runId: string;
  readonly bootId: string;
  readonly startedMono: number;
  readonly startedAt: string;
  readonly build: BuildStamp;
  /** The run recorded before this one started, and how it ended (null on a new root). */
  readonly previousRecord: RunRecord | undefined;
  readonly previous: PreviousRun | null;
  readonly resetReason: ResetReason | null;
  /** When the journal's last event was written: a clock behind it was set back. */
  readonly lastEventTs: number | undefined;
}

/** Loads and validates the config before anything is written: a bad config changes nothing on disk. */
export function loadDaemonConfig(opts: RunOptions): LoadedConfig {
  const paths = pathsFor(opts.root);
  return loadConfig({ explicitFile: opts.configFile, defaultFile: paths.configFile, profile: opts.profile, fileExists: existsSync });
}

function chaosFor(config: Config, env: NodeJS.ProcessEnv): { chaos: Chaos; asked: BootContext['chaosAsked'] } {
  // WAVEOS_CHAOS wins over the config's section; a malformed one is a config error.
  const fromEnv = env.WAVEOS_CHAOS?.trim() ? parseChaosEnv(env.WAVEOS_CHAOS) : undefined;
  const spec: ChaosSpec | undefined = fromEnv ?? (config.chaos ? { ...config.chaos, origin: 'config' } : undefined);
  // The prod profile never injects faults, whatever the environment says (its config refuses the section).
  const refused = config.profile === 'prod' && spec !== undefined;
  return { chaos: new Chaos(refused ? undefined : spec), asked: { origin: spec?.origin ?? null, refused } };
}

/**
 * Opens what every unit needs, in the order that keeps a bad start harmless: config and secrets are read
 * before anything is written; the notify socket and the pid file are claimed before the journal is opened;
 * how the previous run ended is read before this run records anything. A background journal commit
 * that fails is fatal: the process exits and the next start recovers.
 */
export function openBoot(opts: RunOptions): BootContext {
  const loaded = loadDaemonConfig(opts);
  const { config } = loaded;
  const paths = pathsFor(opts.root);
  const clock = opts.clock ?? systemClock;
  const env = opts.env ?? process.env;
  // Secrets are read before anything is written: one that cannot be read is a config error (exit 2).
  const secrets = resolveSecrets(config.secrets, env);
  const redactor = daemonRedactor({ secrets: secrets.list(), env, config, patterns: config.spooler.redact });
  const { chaos, asked } = chaosFor(config, env);
  // The daemon's own log goes to stdout as before and, through the spooler, to the spool as source `waveos`.
  const format = opts.logFormat ?? config.log.format;
  // Under systemd stdout is a journal stream: each JSON line carries its priority for journalctl -p.
  const selfLog = teeLogDestination(1, undefined, { priority: env.JOURNAL_STREAM !== undefined && format === 'json' ? pinoLinePriority : undefined });
  const log = createLogger({ level: config.log.level, format, redact: config.log.redact, destination: selfLog.destination });
  log.info(
    { profile: config.profile, config_file: loaded.file ?? null },
    loaded.file ? `config: ${loaded.file} (profile ${config.profile})` : `no config at ${paths.configFile}: running on the ${config.profile} profile's built-in defaults`,
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
  // After an unclean stop (no clean-stop marker) the journal gets a quick_check: a power cut may have damaged it.
  const opened = Journal.openForStart(paths.db, {
    quickCheck: !existsSync(paths.cleanStopMarker),
    clock,
    runId,
    bootId,
    batchMax: config.journal.batch_max,
    batchDelayMs: config.journal.batch_delay_ms,
    onCommitError: (e) => fatalExit(log, opened.journal, e),
    onWritableChange: (c) =>
      c.writable
        ? log.warn({ cause: c.cause }, 'the journal commits again; what waited in memory is being committed')
        : log.error({ cause: c.cause, err: c.error }, 'the journal cannot commit: running degraded (reads work, durable actions are refused, events wait in memory)'),
    chaos,
    redactor,
  });
  const { journal } = opened;
  const lastEvent = journal.lastSeq() > 0 ? journal.events({ afterSeq: journal.lastSeq() - 1, limit: 1 })[0] : undefined;

  // How did the previous run end? Read before anything of this run is recorded.
  const previousRecord = currentRun(journal);
  const previous = previousRunEnding(journal, previousRecord, readMarker(paths.cleanStopMarker), bootId);
  const resetReason = previous ? captureResetReason({ previous, journal, bootId, sysfs: config.recovery.sysfs, env }) : null;
  if (previous && resetReason) Object.assign(previous, { reset_reason: resetReason.summary, reset_cause: resetReason.cause, reset_evidence: resetReason.evidence });

  return Object.freeze({
    loaded,
    config,
    paths,
    clock,
    env,
    secrets,
    redactor,
    chaos,
    chaosAsked: asked,
    log,
    selfLog: selfLog.copy,
    notifier,
    journal,
    journalOpened: { quarantined: opened.quarantined, missing: opened.missing },
    runId,
    bootId,
    startedMono,
    startedAt: isoUtc(clock.now()),
    build: readBuildStamp(),
    previousRecord,
    previous,
    resetReason,
    lastEventTs: lastEvent ? Date.parse(lastEvent.ts) : undefined,
  });
}
