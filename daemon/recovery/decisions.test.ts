import { describe, expect, it } from 'vitest';
import type { Action, Decision } from '../policy/index.js';
import { planDecision } from './decisions.js';

const decision = (action: Action): Decision => ({
  seq: 7,
  at_ms: 1_000,
  ts_ms: 1_700_000_000_000,
  rule_id: 'cpu-hot',
  rule_kind: 'threshold',
  policy_version: 'p1',
  action,
  severity: 'warning',
  reason: 'cpu above 90 % for 30 s',
  data: {},
  mode: 'normal',
});

describe('planDecision', () => {
  it('names the executor action of every world-changing policy action, with the rule as source and reason', () => {
    const cases: [Action, unknown][] = [
      [{ type: 'set_mode', mode: 'safe', from: 'normal' }, { action: 'mode.set', params: { mode: 'safe' } }],
      [{ type: 'restart_service', service: 'web' }, { action: 'service.restart', params: { service: 'web' } }],
      [{ type: 'stop_service', service: 'web' }, { action: 'service.stop', params: { service: 'web' } }],
      [{ type: 'start_service', service: 'web' }, { action: 'service.start', params: { service: 'web' } }],
      [{ type: 'apply_cap', service: 'web', nice: 10 }, { action: 'service.cap', params: { service: 'web', nice: 10 } }],
      [{ type: 'request_reboot' }, { action: 'board.reboot', params: { service: null } }],
    ];
    for (const [action, expected] of cases) {
      const step = planDecision(decision(action));
      expect(step.kind).toBe('action');
      if (step.kind !== 'action') continue;
      expect(step.request).toEqual({ ...(expected as object), reason: 'cpu above 90 % for 30 s', source: 'policy:cpu-hot', rule_id: 'cpu-hot' });
    }
  });

  it('sends an evidence export to the exporter and changes nothing for events and webhooks', () => {
    expect(planDecision(decision({ type: 'export_evidence', reason: 'crash' }))).toEqual({ kind: 'evidence', reason: 'crash' });
    expect(planDecision(decision({ type: 'emit_event', severity: 'notice', kind: 'policy.note' })).kind).toBe('none');
    expect(planDecision(decision({ type: 'webhook', message: 'hi' })).kind).toBe('none');
  });
});
