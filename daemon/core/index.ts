export { writeFileAtomic, fsyncDir, fsyncPath, unlinkDurable } from './atomic-file.js';
export { type Clock, FakeClock, systemClock, isoUtc } from './clock.js';
export { DURATION_SOURCE, type FieldBounds, SIZE_SOURCE, boundedDuration, boundedSize, fieldBounds, formatDurationText, formatMs, parseDuration, parseSize } from './duration.js';
export {
  ErrorCodes,
  type ErrorCode,
  type ErrorCodeSpec,
  ExitCode,
  type InputProblem,
  WaveosError,
  errorMessage,
  formatProblem,
  hasErrorCode,
  httpStatusOf,
  isDiskFull,
  isErrorCode,
  isWaveosError,
} from './errors.js';
export { type BuildStamp, readBuildStamp } from './build-info.js';
export { BUNDLED, resourcePath } from './resources.js';
export { JcsError, canonicalJson, jcs, jcsOf, wellFormed } from './canonical-json.js';
export { trimTornTail } from './growing-file.js';
export { TokenBucket, type TokenBucketLimits } from './token-bucket.js';
export { type DocPath, type Locate, type LocatedYaml, parseLocatedYaml } from './located-yaml.js';
export { claimPidFile, processStartTime } from './pid-file.js';
export { defaultDeviceId, newRunId, readBootId } from './ids.js';
export { type Lifecycle, ModuleRunner } from './lifecycle.js';
export type { LogSink } from './log-sink.js';
export { type Logger, type LogFormat, createLogger, silentLogger } from './logger.js';
export { type Paths, ensureLayout, pathsFor, resolveRoot } from './paths.js';
export { spoolCurrentLog } from './paths.js';
export {
  CHAOS_EFFECTS,
  CHAOS_POINTS,
  Chaos,
  type ChaosEffect,
  type ChaosPoint,
  type ChaosRule,
  type ChaosSpec,
  type ChaosStats,
  NO_CHAOS,
  chaosRule,
  chaosSchema,
  mulberry32,
  parseChaosEnv,
} from './chaos.js';
export { MODES, type Mode } from './modes.js';
export { didYouMean, nearestName } from './nearest.js';
export { linearRegExp } from './linear-regexp.js';
export { type DirScan, INPUT_LIMITS, type InputRead, fileTypeOf, formatBytes, readInputFile, scanInputDir } from './input-files.js';
export { DURATION_PATTERN, SIZE_PATTERN, boundedJsonSchema, boundsOverride, replaceSchema } from './json-schema-bounds.js';
