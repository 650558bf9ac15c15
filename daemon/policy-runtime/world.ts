import type { Config } from '../config/index.js';
import { EVENT_KINDS } from '../journal/index.js';
import type { PolicyWorld } from '../policy/index.js';
import { METRIC_COLLECTOR } from '../telemetry/index.js';

/** What a policy may name on a device with this config (see PolicyWorld). */
export function policyWorld(config: Pick<Config, 'services' | 'telemetry'>): PolicyWorld {
  const t = config.telemetry;
  const on = (c: string): boolean => c === 'always' || (c === 'gpu' ? t.gpu.enabled : (t.collectors as Record<string, { enabled: boolean }>)[c]?.enabled === true);
  return {
    services: config.services.map((s) => s.name),
    metrics: Object.entries(METRIC_COLLECTOR)
      .filter(([, c]) => on(c))
      .map(([m]) => m),
    eventKinds: Object.keys(EVENT_KINDS),
  };
}
