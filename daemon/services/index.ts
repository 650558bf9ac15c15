export { BASE_ENV, serviceEnvironment } from './environment.js';
export { FileLogSink } from './file-log-sink.js';
export { type CommandResult, runCommand } from './command.js';
export { type HealthResult, checkHealth } from './health.js';
export { type ChildRecord, type ReapResult, reapOrphans, unrecordedChildren } from './orphans.js';
export {
  type Because,
  type ExitInfo,
  type Hold,
  type ServiceFigures,
  type ServiceInput,
  type ServiceState,
  type StopResult,
  type ServiceLogSockets,
  Supervisor,
  type SupervisorDeps,
  type UnhealthyInfo,
} from './supervisor.js';
