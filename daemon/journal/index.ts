export {
  type CatalogueKind,
  EVENT_KIND_PATTERN,
  EVENT_KINDS,
  type EventKind,
  type EventKindSpec,
  type Highlight,
  POLICY_EVENT_KIND_PATTERN,
  type PolicyEventKind,
  eventKindSpec,
  highlightOf,
  isCatalogueKind,
  policyEventKind,
} from './event-kinds.js';
export { type EventInput, type JournalEvent, GENESIS_HASH, canonicalBody, chainHash, eventLine } from './event.js';
export { type Severity, SEVERITIES } from './severity.js';
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
export { type EventKindRow, catalogueRows, eventKindsTable, parseEventKindsTable, withEventKindsTable } from './event-kinds-doc.js';
