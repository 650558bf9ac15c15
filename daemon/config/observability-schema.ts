import { z } from 'zod';
import { boundedDuration, boundedSize } from '../core/index.js';

/**
 * The `alerting:` and `tracing:` sections (docs/observability.md). Kept in a file of their own so the main
 * schema only names them.
 */

const receiverName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected 1-64 letters, digits, "_", "." or "-"');
const secretName = z.string().regex(/^[a-z][a-z0-9_.-]*$/, 'expected the name of a secret declared under secrets:');
const labelName = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'expected a label name (lowercase letters, digits, "_")');
const SEVERITIES = ['info', 'notice', 'warning', 'error', 'critical'] as const;

const common = {
  /** Also send a notification when every alert of a group has cleared (default true). */
  send_resolved: z.boolean().optional(),
  timeout: boundedDuration('100ms', '5m').optional(),
};

export const webhookReceiverSchema = z.strictObject({
  kind: z.literal('webhook'),
  /** A URL without a secret in it; one that carries a token belongs in `url_secret`. */
  url: z.url({ protocol: /^https?$/ }).optional(),
  /** The name of a secret (secrets:) whose value is the URL: kept out of the config, journal, logs and packs. */
  url_secret: secretName.optional(),
  ...common,
});

export const slackReceiverSchema = z.strictObject({
  kind: z.literal('slack'),
  /** Slack incoming-webhook URLs are themselves the credential: always a secret. */
  url_secret: secretName,
  /** Overrides the channel the incoming webhook posts to (older app webhooks only). */
  channel: z.string().min(1).max(80).optional(),
  ...common,
});

export const emailReceiverSchema = z.strictObject({
  kind: z.literal('email'),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65_535).optional(),
  /** `starttls` (default: plain connect, then STARTTLS, refused without it), `tls` (implicit TLS, port 465) or `none` (loopback relays only). */
  security: z.enum(['starttls', 'tls', 'none']).optional(),
  user: z.string().min(1).optional(),
  password_secret: secretName.optional(),
  from: z.string().min(3),
  to: z.array(z.string().min(3)).min(1),
  /** A PEM file of CA certificates to trust for the relay (a private CA); the system's are used otherwise. */
  ca_file: z.string().min(1).optional(),
  /** The name the relay's certificate must carry, when `host` is an address. */
  servername: z.string().min(1).optional(),
  ...common,
});

export const receiverSchema = z.discriminatedUnion('kind', [webhookReceiverSchema, slackReceiverSchema, emailReceiverSchema]);

const matchSchema = z.strictObject({
  severity: z.array(z.enum(SEVERITIES)).min(1).optional(),
  /** Event kinds or prefixes ending in `*` (`policy.*`). */
  kind: z.array(z.string().regex(/^[a-z][a-z0-9_.]*\*?$/, 'expected an event kind or a prefix ending in *')).min(1).optional(),
  environment: z.array(z.string().min(1)).min(1).optional(),
  alertname: z.array(z.string().min(1)).min(1).optional(),
});

interface RouteIn {
  receiver?: string | undefined;
  match?: z.infer<typeof matchSchema> | undefined;
  group_by?: string[] | undefined;
  group_wait?: number | undefined;
  group_interval?: number | undefined;
  repeat_interval?: number | undefined;
  continue?: boolean | undefined;
  routes?: RouteIn[] | undefined;
}

export const routeSchema: z.ZodType<RouteIn> = z.lazy(() =>
  z.strictObject({
    receiver: receiverName.optional(),
    match: matchSchema.optional(),
    group_by: z.array(labelName).optional(),
    group_wait: boundedDuration('0s', '1h').optional(),
    group_interval: boundedDuration('1s', '1d').optional(),
    repeat_interval: boundedDuration('1m', '30d').optional(),
    continue: z.boolean().optional(),
    routes: z.array(routeSchema).max(100).optional(),
  }),
);

export const alertingSchema = z
  .strictObject({
    enabled: z.boolean().optional(),
    /** Fleet tags: added to every alert's labels (site, fleet, hardware revision, …). */
    labels: z.record(labelName, z.string().max(200)).optional(),
    /** An alert with no clearing event (a policy webhook, a critical event) resolves after this long without firing again. */
    resolve_timeout: boundedDuration('10s', '7d').optional(),
    /** Events at or above this severity not covered by a built-in alert become alerts of their own; `off` for none. */
    events_min_severity: z.enum([...SEVERITIES, 'off']).optional(),
    receivers: z.record(receiverName, receiverSchema).optional(),
    route: routeSchema.optional(),
    outbox: z
      .strictObject({
        /** Bytes the on-disk outbox may hold per receiver; a notification over it is dropped and counted. */
        quota: boundedSize('4KiB', '1GiB').optional(),
        backoff: boundedDuration('10ms', '1h').optional(),
        max_backoff: boundedDuration('10ms', '1d').optional(),
      })
      .optional(),
  })
  .superRefine((a, ctx) => {
    const names = Object.keys(a.receivers ?? {});
    const check = (r: RouteIn | undefined, path: (string | number)[]): void => {
      if (!r) return;
      if (r.receiver !== undefined && !names.includes(r.receiver))
        ctx.addIssue({ code: 'custom', path: [...path, 'receiver'], message: `no receiver named "${r.receiver}" (expected one of: ${names.join(', ') || 'none configured'})` });
      (r.routes ?? []).forEach((c, i) => check(c, [...path, 'routes', i]));
    };
    check(a.route, ['route']);
    for (const [name, r] of Object.entries(a.receivers ?? {})) {
      if (r.kind === 'webhook' && (r.url === undefined) === (r.url_secret === undefined))
        ctx.addIssue({ code: 'custom', path: ['receivers', name], message: 'a webhook receiver needs exactly one of url or url_secret' });
      if (r.kind === 'email' && (r.user === undefined) !== (r.password_secret === undefined))
        ctx.addIssue({ code: 'custom', path: ['receivers', name], message: 'user and password_secret go together' });
    }
  });

export const tracingSchema = z.strictObject({
  enabled: z.boolean().optional(),
  /** OTLP/HTTP protobuf endpoint, e.g. http://127.0.0.1:4318/v1/traces; unset, spans are only kept in the journal. */
  otlp_endpoint: z.url({ protocol: /^https?$/ }).optional(),
  /** Spans kept in memory while the collector cannot be reached; the oldest are dropped (and counted) beyond. */
  buffer_spans: z.number().int().min(16).max(100_000).optional(),
  /** How often finished spans are exported and written to the journal. */
  export_interval: boundedDuration('100ms', '10m').optional(),
  /** Write finished spans compactly to the journal (`trace.spans` events) for the evidence report's waterfall. */
  journal: z.boolean().optional(),
});

export type ReceiverSpec = z.infer<typeof receiverSchema>;
export type AlertMatch = z.infer<typeof matchSchema>;

export interface AlertRoute {
  readonly receiver: string;
  readonly match: AlertMatch;
  readonly group_by: readonly string[];
  readonly group_wait_ms: number;
  readonly group_interval_ms: number;
  readonly repeat_interval_ms: number;
  readonly continue: boolean;
  readonly routes: readonly AlertRoute[];
}

export interface AlertingConfig {
  readonly enabled: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly resolve_timeout_ms: number;
  readonly events_min_severity: (typeof SEVERITIES)[number] | 'off';
  readonly receivers: Readonly<Record<string, ReceiverSpec>>;
  readonly route: AlertRoute;
  readonly outbox: { readonly quota_bytes: number; readonly backoff_ms: number; readonly max_backoff_ms: number };
}

export interface TracingConfig {
  readonly enabled: boolean;
  readonly otlp_endpoint: string | null;
  readonly buffer_spans: number;
  readonly export_interval_ms: number;
  readonly journal: boolean;
}

/** The receiver the old `policy.webhook.url` becomes when no alerting receiver is configured. */
export const LEGACY_WEBHOOK_RECEIVER = 'policy-webhook';

function route(r: RouteIn | undefined, parent: AlertRoute | undefined, fallbackReceiver: string): AlertRoute {
  const base: AlertRoute = {
    receiver: r?.receiver ?? parent?.receiver ?? fallbackReceiver,
    match: r?.match ?? {},
    group_by: r?.group_by ?? parent?.group_by ?? ['alertname', 'rule'],
    group_wait_ms: r?.group_wait ?? parent?.group_wait_ms ?? 10_000,
    group_interval_ms: r?.group_interval ?? parent?.group_interval_ms ?? 60_000,
    repeat_interval_ms: r?.repeat_interval ?? parent?.repeat_interval_ms ?? 4 * 3_600_000,
    continue: r?.continue ?? false,
    routes: [],
  };
  return { ...base, routes: (r?.routes ?? []).map((c) => route(c, base, fallbackReceiver)) };
}

type AlertingIn = z.infer<typeof alertingSchema>;

/** The effective `alerting:` section; the old `policy.webhook.url` is one webhook receiver when nothing else is set. */
export function alertingConfig(a: AlertingIn | undefined, legacyWebhookUrl: string | undefined, legacyTimeoutMs: number): AlertingConfig {
  const receivers: Record<string, ReceiverSpec> = { ...(a?.receivers ?? {}) };
  if (Object.keys(receivers).length === 0 && legacyWebhookUrl)
    receivers[LEGACY_WEBHOOK_RECEIVER] = { kind: 'webhook', url: legacyWebhookUrl, timeout: legacyTimeoutMs };
  const first = Object.keys(receivers)[0] ?? '';
  return {
    enabled: (a?.enabled ?? true) && first !== '',
    labels: { ...(a?.labels ?? {}) },
    resolve_timeout_ms: a?.resolve_timeout ?? 5 * 60_000,
    events_min_severity: a?.events_min_severity ?? 'critical',
    receivers,
    route: route(a?.route, undefined, first),
    outbox: {
      quota_bytes: a?.outbox?.quota ?? 1024 * 1024,
      backoff_ms: a?.outbox?.backoff ?? 1_000,
      max_backoff_ms: a?.outbox?.max_backoff ?? 5 * 60_000,
    },
  };
}

export function tracingConfig(t: z.infer<typeof tracingSchema> | undefined): TracingConfig {
  return {
    enabled: t?.enabled ?? false,
    otlp_endpoint: t?.otlp_endpoint ?? null,
    buffer_spans: t?.buffer_spans ?? 2_048,
    export_interval_ms: t?.export_interval ?? 5_000,
    journal: t?.journal ?? true,
  };
}
