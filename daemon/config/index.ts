export { effectiveConfig } from './defaults.js';
export { configJsonSchema } from './json-schema.js';
export {
  type LoadedConfig,
  configHash,
  loadConfig,
  parseConfigText,
  readConfigFile,
} from './load.js';
export { MIGRATIONS, type Migration } from './migrate.js';
export { CONFIG_SCHEMA_VERSION, type Config, PROFILES, type Profile, RESTART_REQUIRED } from './schema.js';
export { DEFAULT_SPOOL_REDACT } from './section-defaults.js';
export type { ProxyConfig, ProxyRouteConfig, ProxyUpstreamConfig, SpoolerConfig } from './schema.js';
