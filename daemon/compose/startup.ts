import { readdirSync } from 'node:fs';
import { ArtifactExporter, type InstalledBundle, RUN_META_SCHEMA_VERSION, type RunMeta, writeRunMeta } from '../artifacts/index.js';
import { type RunRecord, startupFindings } from '../boot/index.js';
import { installedVersions, listGroups } from '../bundles/slots.js';
import { type Paths, unlinkDurable } from '../core/index.js';
import { BUNDLES_ACTIVE_KEY, CONFIG_HASH_KEY, CURRENT_RUN_KEY, type Journal } from '../journal/index.js';
import type { BootContext } from './open.js';

/**
 * Every installed bundle by `<kind>/<name>`, read from the slots' links and the install in flight: what
 * `bundle_ids` (one per kind) loses when a device runs two app bundles.
 */
export function installedBundles(paths: Paths, journal: Pick<Journal, 'readState'>): Record<string, InstalledBundle> {
  const active = journal.readState(BUNDLES_ACTIVE_KEY) ?? null;
  const out: Record<string, InstalledBundle> = {};
  for (const g of listGroups(paths)) {
    if (!g.current) continue;
    const onTrial = active && active.kind === g.kind && active.name === g.name && active.bundle_id === g.current && (active.state === 'activated' || active.state === 'trial');
    const state: InstalledBundle['state'] = onTrial
      ? (active.state as 'activated' | 'trial')
      : g.current === g.lastKnownGood
        ? 'committed'
        : g.current === g.previousGood
          ? 'previous_good'
          : 'uncommitted';
    const version = g.slots.find((s) => s.bundle_id === g.current)?.version ?? null;
    out[`${g.kind}/${g.name}`] = { kind: g.kind, name: g.name, bundle_id: g.current, version, state };
  }
  return out;
}

/** run_meta.json of this run: written at start, rewritten when the enforced policy or a bundle changes. */
export class RunMetaFile {
  readonly file: string;
  private readonly meta: RunMeta;

  constructor(private readonly boot: BootContext) {
    const { build, loaded, config, paths } = boot;
    this.meta = {
      schema_version: RUN_META_SCHEMA_VERSION,
      run_id: boot.runId,
      boot_id: boot.bootId,
      started_at: boot.startedAt,
      waveos_version: build.version,
      // The enforced policy's version: the policy runtime sets it once the policy files are loaded.
      policy_version: null,
      bundle_ids: installedVersions(paths).bundle_ids,
      bundles_by_name: installedBundles(paths, boot.journal),
      config_hash: loaded.hash,
      config_file: loaded.file ?? null,
      profile: config.profile,
      build: { git_commit: build.git_commit, git_dirty: build.git_dirty, built_at: build.built_at, node_version: process.version },
      device: { ...config.device },
      feature_flags: { ...config.feature_flags },
      previous_run: boot.previous,
    };
    this.file = writeRunMeta(paths, this.meta);
  }

  update(change: Partial<Pick<RunMeta, 'policy_version' | 'bundle_ids'>>): void {
    Object.assign(this.meta, change);
    // The per-name view follows whenever the per-kind one is given: both say what the slots hold now.
    if (change.bundle_ids) this.meta.bundles_by_name = installedBundles(this.boot.paths, this.boot.journal);
    writeRunMeta(this.boot.paths, this.meta);
  }
}

function hasRunFolders(dir: string): boolean {
  try {
    return readdirSync(dir, { withFileTypes: true }).some((d) => d.isDirectory());
  } catch {
    return false;
  }
}

/**
 * Start-up is recovery: the artifacts are repaired, this run is recorded (only then may the clean-stop
 * marker go: a crash in between still reads as "not clean"), interrupted intents are resolved, and what
 * start-up found is journaled.
 */
export function beginRun(boot: BootContext): { exporter: ArtifactExporter; runMeta: RunMetaFile } {
  const { journal, paths, config, log, loaded } = boot;
  // Read before this run's own folder exists: only an earlier run's folder means a journal went missing.
  const missingWithRuns = boot.journalOpened.missing && hasRunFolders(paths.artifactsDir);
  const exporter = new ArtifactExporter({
    journal,
    paths,
    log: log.child({ module: 'artifacts' }),
    runId: boot.runId,
    flushIntervalMs: config.artifacts.flush_interval_ms,
    keepRuns: config.artifacts.keep_runs,
    maxBytes: config.artifacts.max_bytes,
    metricsCsv: config.artifacts.metrics_csv,
    chaos: boot.chaos,
  });
  const recovered = exporter.recover(boot.previousRecord?.run_id);
  const runMeta = new RunMetaFile(boot);
  exporter.attachRunMeta(() => runMeta.update({}));
  const previousHash = journal.readState(CONFIG_HASH_KEY);
  const record: RunRecord = { run_id: boot.runId, boot_id: boot.bootId, started_at: boot.startedAt, pid: process.pid };
  journal.writeStates({ [CURRENT_RUN_KEY]: record, [CONFIG_HASH_KEY]: loaded.hash });
  unlinkDurable(paths.cleanStopMarker);
  journal.resolveInterruptedIntents();
  const r = boot.resetReason;
  const chaos = boot.chaos.stats();
  const findings = startupFindings({
    runId: boot.runId,
    version: boot.build.version,
    profile: config.profile,
    pid: process.pid,
    nodeVersion: process.version,
    nowMs: boot.clock.now(),
    previous: boot.previous,
    reset: r ? { cause: r.cause, summary: r.summary, board_rebooted: r.board_rebooted, evidence: r.evidence } : null,
    config: { hash: loaded.hash, previousHash, file: loaded.file ?? null, migrations: loaded.migrations },
    artifacts: { recoveredEvents: recovered.events, trimmedBytes: recovered.trimmedBytes },
    lastEventTs: boot.lastEventTs,
    journal: { db: paths.db, artifactsDir: paths.artifactsDir, quarantined: boot.journalOpened.quarantined, missingWithRuns },
    chaos: { stats: chaos, refused: boot.chaosAsked.refused, origin: boot.chaosAsked.origin },
  });
  for (const f of findings) {
    if (f.durable) journal.appendDurable(f.event);
    else journal.append(f.event);
  }
  const q = boot.journalOpened.quarantined;
  if (q) log.error({ files: q.files, problem: q.problem }, 'the journal was damaged: moved aside, a new journal begins');
  if (chaos.enabled) log.warn({ seed: chaos.seed, rules: chaos.rules }, 'chaos: failure injection is on');
  else if (boot.chaosAsked.refused) log.warn('chaos: WAVEOS_CHAOS is ignored in the prod profile');
  return { exporter, runMeta };
}
