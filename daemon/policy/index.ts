export { ACTION_FLOWS, BUDGET_METRICS, type EngineOptions, type EngineSnapshot, PolicyEngine, capText, compare, describe, serviceMatches } from './engine.js';
export { fmtLabels, fmtMs, fmtValue } from './format.js';
export { policyJsonSchema } from './json-schema.js';
export { METRICS_HEADER, MetricsCsvReader, parseMetricsCsv } from './metrics-csv.js';
export { type ParsedPolicyFile, invalidPolicy, parsePolicyText, policyName } from './parse.js';
export { BUILTIN_MODES, type PolicySet, buildPolicySet, emptyPolicySet } from './policy-set.js';
export {
  type ActionSpec,
  BUDGET_RESOURCES,
  type BudgetResource,
  type CapSpec,
  type ModeSpec,
  OPS,
  type Op,
  type PolicyFile,
  type PolicySeverity,
  REQUIRED_MODES,
  type RuleSpec,
  policyFileSchema,
} from './schema.js';
export { SimClock, type SimulationResult, Simulator, simulate } from './simulate.js';
export { type Action, type AdmitResult, type Decision, type Observation, type PolicySample, type RuleKind, type TransitionCheck, observationFromEvent } from './types.js';
export { type PolicyWorld, referenceProblems } from './references.js';
