export { type CleanStopMarker, CURRENT_RUN_KEY, type RunRecord, currentRun, previousRunEnding, readMarker } from './previous-run.js';
export { type Finding, type StartupFacts, clockJumpEvent, startupFindings } from './findings.js';
