import type { Lifecycle } from '../core/index.js';
import { type TracingHandle, startTracing } from '../tracing/index.js';
import type { BootContext } from './open.js';

/**
 * Traces (docs/observability.md), when `tracing.enabled`: the SDK and the OTLP exporter are imported only
 * here, at start, so a daemon without tracing never loads them. First to start, so every unit's spans record.
 */
export function tracingUnit(boot: BootContext): Lifecycle | undefined {
  const { config } = boot;
  if (!config.tracing.enabled) return undefined;
  let handle: TracingHandle | undefined;
  return {
    name: 'tracing',
    async start() {
      handle = await startTracing({
        config: config.tracing,
        device: config.device,
        runId: boot.runId,
        version: boot.build.version,
        log: boot.log.child({ module: 'tracing' }),
        emit: (e) => boot.journal.append(e),
      });
    },
    async stop() {
      await handle?.stop();
    },
  };
}
