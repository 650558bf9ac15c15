import { z } from 'zod';
import { boundedDuration, boundedSize } from '../core/index.js';

const topicLevel = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'expected an id of letters, digits, ".", "_", ":" or "-" (a single MQTT topic level)');

/** The fleet link (docs/fleet-protocol.md), off by default; when off its code is not even loaded. */
export const fleetSchema = z.strictObject({
  enabled: z.boolean().optional(),
  /** The fleet id: the second level of every topic. */
  fleet: topicLevel.optional(),
  /** `mqtts://host:port` (TLS); `mqtt://` only for a broker on the loopback. */
  broker: z.string().regex(/^mqtts?:\/\/[^\s/?#]+$/, 'expected mqtts://host:port').optional(),
  cohorts: z.array(topicLevel).max(64).optional(),
  /** TLS files, relative to the root when not absolute; default var/lib/waveos/fleet/{ca.crt,tls.crt,tls.key}. */
  tls: z.strictObject({ ca: z.string().min(1).optional(), cert: z.string().min(1).optional(), key: z.string().min(1).optional() }).optional(),
  keepalive: boundedDuration('5s', '20m').optional(),
  session_expiry: boundedDuration('1m', '365d').optional(),
  reconnect: z.strictObject({ min: boundedDuration('100ms', '10m').optional(), max: boundedDuration('100ms', '1h').optional() }).optional(),
  health_interval: boundedDuration('1s', '1d').optional(),
  events: z.strictObject({ min_severity: z.enum(['info', 'notice', 'warning', 'error', 'critical']).optional() }).optional(),
  outbox: z.strictObject({ max_bytes: boundedSize('64KiB', '1GiB').optional() }).optional(),
  /** The role fleet commands act with (RBAC, as a token's). */
  role: z.enum(['viewer', 'operator', 'admin']).optional(),
  update_lock_max_age: boundedDuration('1m', '30d').optional(),
  download_timeout: boundedDuration('1s', '1d').optional(),
}).superRefine((f, ctx) => {
  if (!f.enabled) return;
  if (!f.broker) ctx.addIssue({ code: 'custom', path: ['broker'], message: 'an enabled fleet link needs a broker (mqtts://host:port)' });
  if (!f.fleet) ctx.addIssue({ code: 'custom', path: ['fleet'], message: 'an enabled fleet link needs the fleet id' });
});

/** The effective `fleet:` section. */
export interface FleetConfig {
  readonly enabled: boolean;
  readonly fleet: string;
  readonly broker: string | null;
  readonly cohorts: readonly string[];
  readonly tls: { readonly ca: string; readonly cert: string; readonly key: string };
  readonly keepalive_s: number;
  readonly session_expiry_s: number;
  readonly reconnect_min_ms: number;
  readonly reconnect_max_ms: number;
  readonly health_interval_ms: number;
  readonly events_min_severity: 'info' | 'notice' | 'warning' | 'error' | 'critical';
  readonly outbox_max_bytes: number;
  readonly role: 'viewer' | 'operator' | 'admin';
  readonly update_lock_max_age_ms: number;
  readonly download_timeout_ms: number;
}

export function fleetConfig(f: z.output<typeof fleetSchema> | undefined): FleetConfig {
  return {
    enabled: f?.enabled ?? false,
    fleet: f?.fleet ?? 'default',
    broker: f?.broker ?? null,
    cohorts: f?.cohorts ?? [],
    tls: { ca: f?.tls?.ca ?? 'var/lib/waveos/fleet/ca.crt', cert: f?.tls?.cert ?? 'var/lib/waveos/fleet/tls.crt', key: f?.tls?.key ?? 'var/lib/waveos/fleet/tls.key' },
    keepalive_s: Math.round((f?.keepalive ?? 60_000) / 1000),
    session_expiry_s: Math.round((f?.session_expiry ?? 7 * 86_400_000) / 1000),
    reconnect_min_ms: f?.reconnect?.min ?? 1_000,
    reconnect_max_ms: Math.max(f?.reconnect?.max ?? 60_000, f?.reconnect?.min ?? 1_000),
    health_interval_ms: f?.health_interval ?? 30_000,
    events_min_severity: f?.events?.min_severity ?? 'notice',
    outbox_max_bytes: f?.outbox?.max_bytes ?? 8 * 1024 * 1024,
    role: f?.role ?? 'operator',
    update_lock_max_age_ms: f?.update_lock_max_age ?? 86_400_000,
    download_timeout_ms: f?.download_timeout ?? 600_000,
  };
}
