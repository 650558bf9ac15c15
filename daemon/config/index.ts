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
export { CONFIG_SCHEMA_VERSION, type Config, PROFILES, type Profile, RESTART_REQUIRED, type SecretSource } from './schema.js';
export { TELEMETRY_COLLECTORS, type TelemetryCollector, type TelemetryConfig } from './schema.js';
export { PROMETHEUS_DEFAULT_PORT } from './defaults.js';
export {
  HEALTH_KINDS,
  type HealthSpec,
  MODES,
  type Mode,
  type RecoveryConfig,
  type ServiceSpec,
  recoveryConfig,
  serviceSchema,
  serviceSpec,
} from './services-schema.js';
export { examplesDir } from './dev-services.js';
export { type FleetConfig, fleetSchema } from './fleet-schema.js';
export type { ProxyConfig, ProxyRouteConfig, ProxyUpstreamConfig, SpoolRateConfig, SpoolSourceConfig, SpoolerConfig } from './schema.js';
