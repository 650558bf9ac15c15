export {
  type DeviceKey,
  deviceKeyFinding,
  type LoadedDeviceKey,
  keyIdOf,
  loadOrCreateDeviceKey,
  parsePublicKey,
  publicKeyText,
  readDevicePublicKey,
  readTrustedKeys,
  sign,
  verifySignature,
} from './device-key.js';
export { type FileEntry, type Manifest, MANIFEST_FILE, PACK_NAME_RE, SIGNATURE_FILE, type Trigger, manifestSchema, packName, reasonSlug } from './manifest.js';
export { type BuiltPack, type PackRequest, type PackSource, type PolicyFileCopy, buildPack, highlightOf, removeLeftovers, spoolFilesInWindow } from './pack-builder.js';
export { type ReportData, scriptSafeJson } from './report.js';
export {
  type EvidenceDeps,
  EvidenceService,
  type EvidenceSettings,
  type ExportOutcome,
  type ExportRequest,
  type IncidentOutcome,
  type PackListing,
  type PackSummary,
  type Scheduler,
  listPacks,
  packPath,
} from './service.js';
export { type PackProblemCode, type VerifyProblem, type VerifyReport, verifyPack } from './verify.js';
export { readSignedManifest } from './pack-head.js';
