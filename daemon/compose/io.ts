import { join } from 'node:path';
import { createProxy } from '../proxy/index.js';
import type { PolicyRuntime } from '../policy-runtime/index.js';
import type { Supervisor } from '../services/index.js';
import { createSpooler } from '../spooler/index.js';
import { MODES, readBuildStamp } from '../core/index.js';
import { Telemetry } from '../telemetry/index.js';
import type { BootContext } from './open.js';

/** The logging spooler (the services' and the daemon's own output) and, when enabled, the uplink proxy. */
export function spoolUnits(boot: BootContext): { spooler: ReturnType<typeof createSpooler>; proxy: ReturnType<typeof createProxy> | undefined } {
  const { clock, log, paths, config, journal, chaos } = boot;
  const spooler = createSpooler({ clock, log: log.child({ module: 'spooler' }), spoolDir: paths.spoolDir, socketPath: paths.logSocket, serviceSocketDir: join(paths.runDir, 'log'), reservedSources: config.services.map((s) => s.name), settings: config.spooler, redactor: boot.redactor, events: journal, chaos });
  spooler.attach('waveos', boot.selfLog, 'stdout');
  const proxy = config.proxy.enabled
    ? createProxy({ clock, log: log.child({ module: 'proxy' }), settings: config.proxy, dir: paths.proxyDir, socketPath: paths.proxySocket, events: journal, chaos })
    : undefined;
  return { spooler, proxy };
}

/** Collectors, the metrics history and Prometheus; every sample set goes to the policy. */
interface InstalledBundles {
  versions(): { by_name: Record<string, { version: string | undefined }> };
}

interface SpoolUsage {
  usageBySource(): Map<string, number>;
}

export function telemetryUnit(
  boot: BootContext,
  deps: { supervisor: Supervisor; policy: PolicyRuntime; spooler?: SpoolUsage; bundles?: InstalledBundles; firstPassAfter?: Promise<unknown> },
): Telemetry {
  const { journal } = boot;
  const { spooler } = deps;
  const build = readBuildStamp();
  const telemetry = new Telemetry({
    journal,
    config: boot.config.telemetry,
    clock: boot.clock,
    log: boot.log.child({ module: 'telemetry' }),
    paths: boot.paths,
    services: () => deps.supervisor.list(),
    spoolUsage: spooler ? () => spooler.usageBySource() : undefined,
    onSamples: (samples) => deps.policy.observe(samples),
    chaos: boot.chaos,
    firstPassAfter: deps.firstPassAfter,
    exposition: {
      build: () => ({ version: build.version, commit: build.git_commit }),
      mode: () => ({ current: deps.policy.mode, known: MODES }),
      breakers: () => deps.policy.snapshot().breakers,
      bundles: () => deps.bundles?.versions().by_name ?? {},
      journalDiskFull: () => journal.diskFull() !== undefined,
      rolloutHalted: () => (journal.lastEventOf('bundle.rolled_back')?.seq ?? 0) > (journal.lastEventOf('bundle.committed')?.seq ?? 0),
    },
  });
  telemetry.registerQueue('journal.batch', () => journal.pendingCount);
  return telemetry;
}
