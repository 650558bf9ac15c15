import type { Notification } from './groups.js';

/** Who sends: the device and its fleet tags, on every message. */
export interface DeviceFacts {
  device_id: string;
  app_id: string;
  environment: string;
  run_id: string;
  fleet: Readonly<Record<string, string>>;
  /** The newest evidence pack's name when one was written, for the receiver to ask for it. */
  pack_id: string | null;
}

export const WEBHOOK_SCHEMA = 'waveos.alert/v1';

/** The webhook body (docs/observability.md, "Webhook JSON"; docs/alert-webhook.schema.json). */
export function webhookBody(n: Notification, d: DeviceFacts, outboxId: number): Record<string, unknown> {
  return {
    schema: WEBHOOK_SCHEMA,
    id: `${d.device_id}-${n.receiver}-${outboxId}`,
    status: n.status,
    trigger: n.trigger,
    receiver: n.receiver,
    group_key: n.group_key,
    group_labels: n.group_labels,
    device_id: d.device_id,
    app_id: d.app_id,
    environment: d.environment,
    fleet: d.fleet,
    run_id: d.run_id,
    pack_id: d.pack_id,
    created_at: n.created_at,
    alerts: n.alerts.map((a) => ({
      status: a.status,
      alertname: a.alertname,
      severity: a.severity,
      rule: a.rule,
      kind: a.kind,
      reason: a.reason,
      message: a.message,
      numbers: a.numbers,
      labels: a.labels,
      fingerprint: a.fingerprint,
      starts_at: a.starts_at,
      ends_at: a.ends_at,
      seq: a.seq,
    })),
  };
}

function title(n: Notification, d: DeviceFacts): string {
  const names = [...new Set(n.alerts.map((a) => a.alertname))].join(', ');
  const what = n.status === 'resolved' ? 'RESOLVED' : `FIRING:${n.alerts.filter((a) => a.status === 'firing').length}`;
  return `[${what}] ${names} on ${d.device_id} (${d.environment})`;
}

function lines(n: Notification): string[] {
  return n.alerts.map((a) => `${a.status === 'resolved' ? 'resolved' : a.severity}: ${a.alertname}${a.rule ? ` ${a.rule}` : ''} — ${a.reason}${a.message ? ` (${a.message})` : ''} [seq ${a.seq}]`);
}

/** Slack's incoming-webhook message: `text` as the fallback, one section block per alert. */
export function slackBody(n: Notification, d: DeviceFacts, channel?: string): Record<string, unknown> {
  const head = title(n, d);
  const tags = Object.entries(d.fleet).map(([k, v]) => `${k}=${v}`).join(' ');
  return {
    ...(channel ? { channel } : {}),
    text: head,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: head.slice(0, 150) } },
      ...lines(n).map((l) => ({ type: 'section', text: { type: 'mrkdwn', text: l.slice(0, 3000) } })),
      { type: 'context', elements: [{ type: 'mrkdwn', text: `device ${d.device_id} · run ${d.run_id}${tags ? ` · ${tags}` : ''}${d.pack_id ? ` · pack ${d.pack_id}` : ''}` }] },
    ],
  };
}

/** The mail: subject, a plain-text body, and the webhook's JSON attached inline for tools. */
export function emailBody(n: Notification, d: DeviceFacts, outboxId: number): { subject: string; text: string } {
  const facts = [`device: ${d.device_id}`, `app: ${d.app_id}`, `environment: ${d.environment}`, `run: ${d.run_id}`, ...Object.entries(d.fleet).map(([k, v]) => `${k}: ${v}`), `evidence pack: ${d.pack_id ?? 'none yet'}`];
  return {
    subject: title(n, d),
    text: `${lines(n).join('\n')}\n\n${facts.join('\n')}\n\n${JSON.stringify(webhookBody(n, d, outboxId), null, 2)}\n`,
  };
}
