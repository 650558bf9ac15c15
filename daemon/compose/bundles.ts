// The modules a running daemon uses, not the barrel: it would load the build tooling too (docs/footprint.md).
import { type BundleActions, bundleHandlers, registerApps, supervisorAppHost } from '../bundles/actions.js';
import { BundleAgent, ownTree } from '../bundles/agent.js';
import { faultHook } from '../bundles/fault.js';
import { InboxWatcher } from '../bundles/inbox.js';
import { DefaultRuntime } from '../bundles/runtime.js';
import { type BundleVersions, installedVersions } from '../bundles/slots.js';
import type { Config } from '../config/index.js';
import type { Clock, Logger, Paths } from '../core/index.js';
import type { Journal } from '../journal/index.js';
import type { ActionExecutor, ActionHandlers } from '../recovery/index.js';
import type { Supervisor } from '../services/index.js';

/** The actions the update agent owns (activation, commit and rollback of a slot). */
export type { BundleActions };

export interface BundleUnitsDeps {
  journal: Journal;
  paths: Paths;
  clock: Clock;
  log: Logger;
  config: Config;
  env: NodeJS.ProcessEnv;
  /** The one action path: the agent asks it for every change to the world. */
  executor: ActionExecutor;
  /** The one supervisor, for the processes of app bundles. */
  supervisor: Supervisor;
  /** Asks the daemon to exit with code 75 so that the launcher starts the new WaveOS slot. */
  restartDaemon(reason: string): void;
  /** The daemon's one redactor: what an app's health check printed is masked before it is quoted. */
  redactor?: { text(s: string): string };
  /** After a commit or rollback: run_meta.json and the enforced policy follow the installed versions. */
  onVersionsChanged(versions: BundleVersions): void;
}

/**
 * The update agent's units: the install state machine and the inbox watcher, and the handlers of its actions.
 * Installed apps are registered with the supervisor here, before anything starts, so that recovery starts
 * them with the configured services.
 */
export function bundleUnits(deps: BundleUnitsDeps): { agent: BundleAgent; inbox: InboxWatcher; handlers: ActionHandlers<BundleActions> } {
  const { config, env, paths, executor } = deps;
  const log = deps.log.child({ module: 'bundles' });
  const apps = supervisorAppHost(deps.supervisor);
  const { redactor } = deps;
  const runtime = new DefaultRuntime({ root: paths.root, apps, defaultTrialMs: config.bundles.trial_ms, env, redact: redactor ? (t) => redactor.text(t) : undefined });
  const agent = new BundleAgent({
    journal: deps.journal,
    paths,
    clock: deps.clock,
    log,
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
    runtime,
    run: (req) => executor.run(req),
    apps,
    fault: faultHook(env, (point) => log.warn({ point }, `fault injection: killing the daemon at ${point} (WAVEOS_FAULT)`)),
    restartDaemon: (reason) => deps.restartDaemon(reason),
    underLauncher: env.WAVEOS_LAUNCHER === '1',
    selfTree: ownTree(),
    onVersionsChanged: () => deps.onVersionsChanged(installedVersions(paths)),
  });
  registerApps(paths, apps, log, agent.appOnTrial());
  const inbox = new InboxWatcher({
    dir: paths.inboxDir,
    rejectedDir: paths.inboxRejectedDir,
    log,
    stableMs: config.bundles.inbox_stable_ms,
    install: (file) => agent.install(file, { origin: 'inbox', requestedBy: 'inbox' }),
  });
  return { agent, inbox, handlers: bundleHandlers({ paths, apps, log }) };
}
