export { type ReadOptions, type SpoolLine, listSources, parseSpoolLine, readSpool } from './reader.js';
export { pinoLinePriority, teeLogDestination } from './self-log.js';
export {
  type Backpressure,
  type FsyncPolicy,
  type RateLimit,
  type SourceSettings,
  type SpoolerSettings,
  spoolerSettings,
} from './settings.js';
export {
  type SourceStats,
  type SpoolEvent,
  Spooler,
  type SpoolerDeps,
  type SpoolerStats,
  type LineRedactor,
  createSpooler,
  safeSourceName,
} from './spooler.js';
export type { SocketOwner } from './unix-server.js';
