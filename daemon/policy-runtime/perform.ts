import { type Clock, type Logger, errorMessage } from '../core/index.js';
import type { Journal } from '../journal/index.js';
import type { Decision, Observation } from '../policy/index.js';
import { type ActionResult, type AnyActionRequest, planDecision } from '../recovery/index.js';
import { decisionData } from './runtime.js';

export interface DecisionPerformerDeps {
  journal: Pick<Journal, 'append'>;
  clock: Clock;
  log: Logger;
  run(req: AnyActionRequest): Promise<ActionResult>;
  exportEvidence(req: { reason: string; requestedBy: string; incident: Record<string, unknown> }): unknown;
  /** The mode the device is really in, told back to the engine after a mode action. */
  mode(): string;
  observeEvent(o: Observation): void;
}

/**
 * Performs a policy decision: journaled with its numbers, then through the action executor (or the
 * evidence exporter). A refusal is journaled by the executor and logged here; it never stops the policy.
 */
export function decisionPerformer(deps: DecisionPerformerDeps): (d: Decision) => Promise<void> {
  return async (d) => {
    deps.journal.append({ kind: 'policy.decision', severity: d.severity, source: `policy:${d.rule_id}`, reason: d.reason, data: decisionData(d) });
    const step = planDecision(d);
    if (step.kind === 'evidence') deps.exportEvidence({ reason: step.reason, requestedBy: `policy:${d.rule_id}`, incident: decisionData(d) });
    if (step.kind !== 'action') return;
    await deps.run(step.request).catch((e: unknown) => {
      deps.log.warn({ err: errorMessage(e), rule_id: d.rule_id, action: step.request.action }, 'a policy action was refused or failed');
    });
    // The engine moved its mode when it decided; tell it where the device really is.
    if (step.request.action === 'mode.set') deps.observeEvent({ type: 'mode_changed', ts_ms: deps.clock.now(), mode: deps.mode(), by: `policy:${d.rule_id}` });
  };
}
