import type { ActionSpec, RuleSpec } from './schema.js';

/** Every action list of a rule, by its key. */
export function actionLists(r: RuleSpec): [string, ActionSpec[] | undefined][] {
  switch (r.kind) {
    case 'threshold':
      return [
        ['actions', r.actions],
        ['on_clear', r.on_clear],
      ];
    case 'breaker':
      return [
        ['actions', r.actions],
        ['on_half_open', r.on_half_open],
        ['on_close', r.on_close],
      ];
    case 'rate_limit':
      return [['on_exceeded', r.on_exceeded]];
    case 'budget':
    case 'cap':
      return [];
  }
}
