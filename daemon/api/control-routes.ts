import { z } from 'zod';
import type { ActionResult, AnyActionRequest } from '../recovery/index.js';
import { type Route, defineRoute } from './types.js';

/** What the control routes need: the list and the mode to read, and the action executor for every change. */
export interface ControlRouteDeps {
  services: { list(): unknown[] };
  mode(): string;
  run(req: AnyActionRequest): Promise<ActionResult>;
}

const serviceActionBody = z.strictObject({
  action: z.enum(['start', 'stop', 'restart']),
  name: z.string().min(1).max(64),
  reason: z.string().max(500).optional(),
});

const modeBody = z.strictObject({
  mode: z.string().min(1).max(32),
  reason: z.string().min(1, 'a mode change needs a reason').max(500),
});

/** Service and mode control. Every change goes through the action executor, with the operator as its source. */
export function controlRoutes(deps: ControlRouteDeps): Route[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/v1/services',
      action: 'services.read',
      role: 'viewer',
      handle: () => ({ kind: 'json', body: { services: deps.services.list() } }),
    }),
    defineRoute({
      method: 'POST',
      path: '/v1/services/action',
      action: 'services.control',
      role: 'operator',
      body: serviceActionBody,
      handle: async (req) => {
        const b = req.body;
        const who = `operator:${req.principal.name}`;
        const r = await deps.run({
          action: `service.${b.action}`,
          params: { service: b.name },
          reason: `${who} asked to ${b.action} ${b.name}${b.reason ? `: ${b.reason}` : ''}`,
          source: who,
        });
        return { kind: 'json', body: { ok: true, intent_id: r.intent_id, result: r.reason, data: r.data ?? {} } };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/mode',
      action: 'mode.read',
      role: 'viewer',
      handle: () => ({ kind: 'json', body: { mode: deps.mode() } }),
    }),
    defineRoute({
      method: 'POST',
      path: '/v1/mode',
      action: 'mode.set',
      role: 'operator',
      body: modeBody,
      handle: async (req) => {
        const who = `operator:${req.principal.name}`;
        const r = await deps.run({ action: 'mode.set', params: { mode: req.body.mode }, reason: `${who}: ${req.body.reason}`, source: who });
        return { kind: 'json', body: { ok: true, intent_id: r.intent_id, mode: deps.mode(), result: r.reason, data: r.data ?? {} } };
      },
    }),
  ];
}
