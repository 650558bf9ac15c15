import type { Decision } from '../policy/index.js';
import type { AnyActionRequest } from './executor.js';

/** What a policy decision asks of the world: an action for the executor, an evidence export, or nothing. */
export type DecisionStep = { kind: 'action'; request: AnyActionRequest } | { kind: 'evidence'; reason: string } | { kind: 'none' };

/** The decision → action mapping, pure: the policy decides, this names the executor action that performs it. */
export function planDecision(d: Decision): DecisionStep {
  const a = d.action;
  const base = { reason: d.reason, source: `policy:${d.rule_id}`, rule_id: d.rule_id };
  const act = (request: AnyActionRequest): DecisionStep => ({ kind: 'action', request });
  switch (a.type) {
    case 'set_mode':
      return act({ ...base, action: 'mode.set', params: { mode: a.mode } });
    case 'restart_service':
      return act({ ...base, action: 'service.restart', params: { service: a.service } });
    case 'stop_service':
      return act({ ...base, action: 'service.stop', params: { service: a.service } });
    case 'start_service':
      return act({ ...base, action: 'service.start', params: { service: a.service } });
    case 'apply_cap': {
      const { type: _type, ...cap } = a;
      return act({ ...base, action: 'service.cap', params: cap });
    }
    case 'request_reboot':
      return act({ ...base, action: 'board.reboot', params: { service: null } });
    case 'export_evidence':
      return { kind: 'evidence', reason: a.reason };
    case 'emit_event':
    case 'webhook':
      // The policy runtime journals and sends these itself: nothing in the world changes.
      return { kind: 'none' };
  }
}
