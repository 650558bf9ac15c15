import { z } from 'zod';
import { type Route, defineRoute } from '../api/index.js';
import type { Telemetry } from './telemetry.js';

export const metricsQuery = z.strictObject({
  since: z.iso.datetime({ offset: true }).optional(),
  name: z
    .string()
    .max(200)
    .regex(/^[a-z_][a-z0-9_]*$/, 'expected a metric name such as cpu_usage_ratio')
    .optional(),
  limit: z.coerce.number().int().min(1).max(1_000_000).optional(),
});

/** `GET /v1/metrics`: current values (CONTRACT.md `metrics --json`); with `since`, history from the journal too. */
export function metricsRoutes(telemetry: Telemetry): Route[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/v1/metrics',
      action: 'metrics.read',
      role: 'viewer',
      query: metricsQuery,
      handle: (req) => {
        const q = req.query;
        let metrics = telemetry.current();
        if (q.name) metrics = metrics.filter((m) => m.name === q.name || m.name.startsWith(`${q.name}_`));
        if (q.since === undefined) return { kind: 'json', body: { metrics } };
        const history = telemetry.historySince(Date.parse(q.since), q.name, q.limit ?? 100_000);
        return { kind: 'json', body: { metrics, history } };
      },
    }),
  ];
}
