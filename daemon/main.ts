import { notifyLauncherReady } from './bundles/launcher.js';
import { alertingUnit } from './compose/alerting.js';
import { apiUnit } from './compose/api.js';
import { bundleUnits } from './compose/bundles.js';
import { evidenceUnit } from './compose/evidence.js';
import { FleetUnit } from './compose/fleet.js';
import { uncaughtError } from './compose/fatal.js';
import { spoolUnits, telemetryUnit } from './compose/io.js';
import { type RunOptions, loadDaemonConfig, openBoot } from './compose/open.js';
import { policyUnit } from './compose/policy.js';
import { DaemonExit } from './compose/process.js';
import { heapKeeperUnit, mainLoopUnit, recoveryUnit, rssGuardUnit, supervisorUnit } from './compose/services.js';
import { beginRun } from './compose/startup.js';
import { tracingUnit } from './compose/tracing.js';
import { ModuleRunner } from './core/index.js';
import { ActionExecutor, recordedMode } from './recovery/index.js';
import { eventMirror } from './journal/index.js';

export { type RunOptions, loadDaemonConfig };

/**
 * The composition root: open, wire, run, and the signals. Start-up is recovery (compose/startup.ts):
 * the journal is opened, artifacts repaired, the previous run's end read and interrupted intents resolved
 * before anything serves. Each unit is built after what it needs, so no name is filled in later; the units
 * start in the order listed and stop in reverse. Returns once the daemon serves; it exits the process
 * itself on a signal, a fatal error, or a start that fails.
 */
export async function runDaemon(opts: RunOptions): Promise<void> {
  // performance.now() counts from the process's start: what comes before this line is Node and module loading.
  const startup: Record<string, number> = { modules: Math.round(performance.now()) };
  const startupCommits: Record<string, number> = {};
  let mark = performance.now();
  let commitsBefore = 0;
  const phase = (name: string): void => {
    const now = performance.now();
    startup[name] = Math.round(now - mark);
    startupCommits[name] = journal.commitCount - commitsBefore;
    commitsBefore = journal.commitCount;
    mark = now;
  };
  // Open: config and secrets before anything is written, then the notify socket, the pid file, the journal.
  const boot = openBoot(opts);
  const { journal, log, env, paths } = boot;
  const runner = new ModuleRunner(log);
  const exit = new DaemonExit(boot, runner);
  process.on('uncaughtException', (e) => uncaughtError(log, journal, e));
  process.on('unhandledRejection', (e) => uncaughtError(log, journal, e));
  process.on('SIGTERM', () => void exit.stop('SIGTERM'));
  process.on('SIGINT', () => void exit.stop('SIGINT'));
  phase('open');

  // Wire: each capability's units, built in the order of what they need.
  const { exporter, runMeta } = beginRun(boot);
  const { spooler, proxy } = spoolUnits(boot);
  const alerting = alertingUnit(boot);
  const tracing = tracingUnit(boot);
  const supervisor = supervisorUnit(boot, spooler);
  const executor = new ActionExecutor({ journal, log: log.child({ module: 'executor' }) });
  const evidence = evidenceUnit(boot);
  const policy = policyUnit(boot, {
    run: (req) => executor.run(req),
    evidence,
    mode: () => recordedMode(journal, log),
    onPolicyChange: (version) => runMeta.update({ policy_version: version }),
  });
  const recovery = recoveryUnit(boot, { executor, supervisor, policy });
  const bundles = bundleUnits({
    ...boot,
    executor,
    supervisor,
    restartDaemon: (reason) => exit.restart(reason),
    onVersionsChanged: (versions) => {
      runMeta.update({ bundle_ids: versions.bundle_ids });
      // A committed or rolled-back policy bundle changes what is enforced.
      policy.reload('request');
    },
  });
  // The one action path: every world-changing action has exactly one handler, or this does not compile.
  executor.install({ ...recovery.handlers(), ...bundles.handlers });
  // Work that READY=1 need not wait for (the first sampling pass) starts once it is sent.
  let readySent!: () => void;
  const afterReady = new Promise<void>((resolve) => (readySent = resolve));
  const telemetry = telemetryUnit(boot, { supervisor, policy, spooler, bundles: bundles.agent, firstPassAfter: afterReady });
  policy.load();
  journal.onCommit((events) => policy.observeJournalEvents(events));
  const mirror = eventMirror({ minSeverity: boot.config.log.events, runId: boot.runId, log: log.child({ module: 'events' }), env });
  if (mirror) journal.onCommit(mirror);
  // The fleet link's code loads only when it is enabled (compose/fleet.ts).
  const fleet = new FleetUnit(boot, { executor, recovery, policy, telemetry, evidence, bundles: bundles.agent });
  const api = apiUnit(boot, { executor, supervisor, recovery, policy, telemetry, evidence, bundles: bundles.agent, spooler, extraRoutes: fleet.routes() });
  const mainLoop = mainLoopUnit(boot, { supervisor, recovery });
  const rssGuard = rssGuardUnit(boot, (reason) => exit.restart(reason));
  const heapKeeper = heapKeeperUnit(boot);
  phase('wire');

  // Run: in order; a unit that fails to start stops the ones before it, and the process exits non-zero.
  try {
    await runner.start([
      ...(tracing ? [tracing] : []),
      exporter,
      ...(alerting ? [alerting] : []),
      spooler,
      ...(proxy ? [proxy] : []),
      supervisor,
      executor,
      recovery,
      telemetry,
      policy,
      evidence,
      bundles.agent,
      bundles.inbox,
      api,
      fleet,
      mainLoop,
      ...(rssGuard ? [rssGuard] : []),
      ...(heapKeeper ? [heapKeeper] : []),
    ]);
  } catch (e) {
    exit.startFailed(e);
  }
  phase('units');
  mainLoop.ready();
  readySent();
  log.info({ secrets: boot.secrets }, `${boot.secrets.list().length} secret(s) loaded from their configured sources`);
  log.info(
    {
      run_id: boot.runId,
      root: paths.root,
      socket: paths.socket,
      journal: paths.db,
      artifacts: runMeta.file.replace(/\/run_meta\.json$/, ''),
      config: boot.loaded.file ?? `(built-in ${boot.config.profile} defaults; put a config at ${paths.configFile})`,
      // Where start-up went, in ms: process start to the composition root, then each phase and unit.
      startup_ms: { ...startup, ready: Math.round(performance.now()), unit: runner.startMs },
      startup_commits: startupCommits,
    },
    `WaveOS ${boot.build.version} ready: root ${paths.root}, socket ${paths.socket}, journal ${paths.db}, artifacts ${paths.artifactsLatest}`,
  );
  notifyLauncherReady(env);
}
