import { CONFIG_SCHEMA_VERSION } from './schema.js';

export interface Migration {
  from: number;
  to: number;
  /** What changed, in words, for the report an operator sees. */
  describe: string;
  apply(doc: Record<string, unknown>): Record<string, unknown>;
}

/**
 * schema_version 1 kept the device identity at the top level and the flush interval in whole seconds;
 * version 2 groups identity under `device:` and writes every interval as a duration.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    from: 1,
    to: 2,
    describe: 'moved device_id, app_id, environment under device:, and artifacts.flush_interval_s to artifacts.flush_interval',
    apply(doc) {
      const out: Record<string, unknown> = { ...doc, schema_version: 2 };
      const device: Record<string, unknown> = {};
      for (const key of ['device_id', 'app_id', 'environment']) {
        if (key in out) {
          device[key] = out[key];
          delete out[key];
        }
      }
      if (Object.keys(device).length > 0) {
        out.device = { ...(typeof out.device === 'object' && out.device !== null ? out.device : {}), ...device };
      }
      const art = out.artifacts;
      if (art && typeof art === 'object' && 'flush_interval_s' in art) {
        const { flush_interval_s, ...rest } = art as Record<string, unknown>;
        out.artifacts = { ...rest, flush_interval: `${String(flush_interval_s)}s` };
      }
      return out;
    },
  },
];

export interface MigrationResult {
  doc: Record<string, unknown>;
  applied: Migration[];
}

/** Brings an older document up to the current schema_version in memory; the file is left as it is. */
export function migrate(doc: Record<string, unknown>, fromVersion: number): MigrationResult {
  let version = fromVersion;
  let current = doc;
  const applied: Migration[] = [];
  while (version < CONFIG_SCHEMA_VERSION) {
    const step = MIGRATIONS.find((m) => m.from === version);
    if (!step) break;
    current = step.apply(current);
    applied.push(step);
    version = step.to;
  }
  return { doc: current, applied };
}
