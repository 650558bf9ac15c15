import { AlertingService } from '../alerting/index.js';
import type { BootContext } from './open.js';

/** The alert routes (docs/observability.md), when a receiver is configured; they read every committed event. */
export function alertingUnit(boot: BootContext): AlertingService | undefined {
  const { config, journal } = boot;
  if (!config.alerting.enabled) return undefined;
  const service = new AlertingService({
    config: config.alerting,
    device: config.device,
    runId: boot.runId,
    dir: boot.paths.alertingDir,
    clock: boot.clock,
    log: boot.log.child({ module: 'alerting' }),
    secret: (name) => boot.secrets.get(name),
    emit: (e) => journal.append(e),
    lastPack: () => {
      const name = journal.lastEventOf('evidence.exported')?.data.name;
      return typeof name === 'string' ? name : null;
    },
  });
  journal.onCommit((events) => service.observe(events));
  return service;
}
