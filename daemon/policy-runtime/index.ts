export { type DecisionPerformerDeps, decisionPerformer } from './perform.js';
export { type PolicyRuntimeDeps, type PolicyWebhookConfig, PolicyRuntime, type ReloadOutcome, bundledPoliciesDir, decisionData } from './runtime.js';
export { WebhookSender, type WebhookOptions } from './webhook.js';
export { policyWorld } from './world.js';
