export {
  type EventInput,
  type JournalEvent,
  type Severity,
  GENESIS_HASH,
  SEVERITIES,
  canonicalBody,
  chainHash,
  eventLine,
} from './event.js';
export {
  type EventQuery,
  type Intent,
  type IntentStatus,
  Journal,
  type JournalOptions,
  JournalReader,
  type MetricAggregate,
  type MetricSample,
  type MetricsFootprint,
  type MetricsQuery,
  type RawSample,
  type StoredSample,
} from './journal.js';
export { SCHEMA_VERSION } from './schema.js';
export { type ChainBreak, type ChainReport, verifyChain, verifyJournal } from './verify.js';
export { type ChainAnchor, type ChainLink, ChainWalker } from './verify.js';
