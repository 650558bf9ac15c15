export { ArtifactExporter, type ExporterDeps, type ExportResult } from './exporter.js';
export { METRICS_CSV_HEADER, csvField, formatLabels, sampleRow } from './csv.js';
export {
  type BuildInfo,
  type InstalledBundle,
  type PreviousRun,
  RUN_META_SCHEMA_VERSION,
  type RunEnding,
  type RunMeta,
  readRunMeta,
  runDir,
  writeRunMeta,
} from './run-meta.js';
