export { type DecisionPerformerDeps, decisionPerformer } from './perform.js';
export { LAST_GOOD_KEY, type PolicyRuntimeDeps, type PolicyWebhookConfig, PolicyRuntime, type ReloadOutcome, bundledPoliciesDir, decisionData } from './runtime.js';
export { WebhookSender, type WebhookOptions } from './webhook.js';
