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
export {
  EVENT_FORMAT_VERSION,
  EVENT_FORMAT_VERSIONS,
  type EventFormatVersion,
  type EventInput,
  type JournalEvent,
  GENESIS_HASH,
  canonicalBody,
  chainHash,
  eventLine,
  isEventFormatVersion,
} from './event.js';
export { type Severity, SEVERITIES } from './severity.js';
export {
  type EventQuery,
  type HeadMark,
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
  type StoredRedactor,
} from './journal.js';
export { SCHEMA_VERSION, migrateSchema } from './schema.js';
export type { PruneResult, UnfoldedChunk } from './journal.js';
export { CHUNK_MAX_SAMPLES, CHUNK_MAX_SPAN_MS, type ChunkRow, HeadChunk, type SeriesRow, type StoredChunk, chunkSamples } from './chunk-store.js';
export { LEGACY_BATCH_ROWS, convertLegacyBatch } from './chunk-migration.js';
export { HEAD_SEGMENT_BYTES, type HeadPiece, headSegments, readHeadLog } from './head-log.js';
export { type ChainBreak, type ChainBreakCode, type ChainReport, verifyChain, verifyJournal } from './verify.js';
export { type ChainAnchor, type ChainLink, ChainWalker, type OutsideAnchor, checkAnchors } from './verify.js';
export { type EventKindRow, catalogueRows, eventKindsTable, parseEventKindsTable, withEventKindsTable } from './event-kinds-doc.js';
export {
  ARTIFACTS_CURSOR_KEY,
  BUNDLES_ACTIVE_KEY,
  BUNDLES_FAILURES_KEY,
  BUNDLES_HISTORY_KEY,
  BUNDLES_SEQ_KEY,
  CHILDREN_KEY,
  CONFIG_HASH_KEY,
  CURRENT_RUN_KEY,
  type ChildRecordValue,
  DEGRADED_FEATURES_KEY,
  EVIDENCE_INCIDENTS_KEY,
  EVIDENCE_PENDING_KEY,
  FLEET_STATE_KEY,
  type FleetStateValue,
  type ExportCursor,
  HOLDS_KEY,
  type HoldValue,
  type IncidentMark,
  type InstallRecordValue,
  LAST_GOOD_KEY,
  BREAKERS_KEY,
  LAUNCHER_NOTE_KEY,
  MODE_KEY,
  type PendingIncident,
  REBOOTS_KEY,
  type RebootRecordValue,
  type RunRecord,
  STATE_KEYS,
  STORED_BUNDLE_KINDS,
  STORED_INSTALL_STATES,
  type StateEntries,
  type StateKey,
  type StateValue,
  type StoredPolicy,
  type StoredBreakers,
  checkStateValue,
} from './state-keys.js';
export { EVENT_PRIORITY, type EventMirrorOptions, eventMirror, journaldEntry } from './journald.js';
