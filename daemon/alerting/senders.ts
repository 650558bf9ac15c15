import { readFileSync } from 'node:fs';
import type { ReceiverSpec } from '../config/index.js';
import type { DeviceFacts } from './render.js';
import { emailBody, slackBody, webhookBody } from './render.js';
import type { Notification } from './groups.js';

/** A send that failed: `permanent` when trying again cannot help (a 4xx other than 408/429). */
export class SendError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

export interface Sender {
  /** Where it goes, safe to journal: a host, never a path or a token. */
  readonly target: string;
  send(n: Notification, facts: DeviceFacts, outboxId: number): Promise<void>;
  close(): void;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '?';
  }
}

async function post(url: string, body: unknown, timeoutMs: number): Promise<void> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: abort.signal });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new SendError(`HTTP ${res.status}`, res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429);
  } catch (e) {
    if (e instanceof SendError) throw e;
    // fetch's own message names neither the path nor a token; its cause says why the connection failed
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    throw new SendError(abort.signal.aborted ? `timeout after ${timeoutMs} ms` : `${(e as Error).message}${cause ? ` (${cause})` : ''}`, false);
  } finally {
    clearTimeout(timer);
  }
}

/** The sender for one receiver; secrets are read here, at start, and held only by the sender. */
export async function createSender(spec: ReceiverSpec, secret: (name: string) => string): Promise<Sender> {
  const timeoutMs = spec.timeout ?? 10_000;
  if (spec.kind === 'webhook') {
    const url = spec.url_secret ? secret(spec.url_secret) : (spec.url ?? '');
    return { target: hostOf(url), send: (n, f, id) => post(url, webhookBody(n, f, id), timeoutMs), close: () => undefined };
  }
  if (spec.kind === 'slack') {
    const url = secret(spec.url_secret);
    return { target: hostOf(url), send: (n, f) => post(url, slackBody(n, f, spec.channel), timeoutMs), close: () => undefined };
  }
  // Loaded only when an email receiver is configured.
  const nodemailer = await import('nodemailer');
  const security = spec.security ?? 'starttls';
  const transport = nodemailer.createTransport({
    host: spec.host,
    port: spec.port ?? (security === 'tls' ? 465 : 587),
    secure: security === 'tls',
    requireTLS: security === 'starttls',
    ignoreTLS: security === 'none',
    auth: spec.user && spec.password_secret ? { user: spec.user, pass: secret(spec.password_secret) } : undefined,
    tls: { ...(spec.ca_file ? { ca: readFileSync(spec.ca_file) } : {}), ...(spec.servername ? { servername: spec.servername } : {}) },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    logger: false,
  });
  return {
    target: `${spec.host}:${spec.port ?? (security === 'tls' ? 465 : 587)}`,
    async send(n, f, id) {
      const m = emailBody(n, f, id);
      try {
        await transport.sendMail({ from: spec.from, to: spec.to, subject: m.subject, text: m.text, headers: { 'X-WaveOS-Alert-Id': `${f.device_id}-${n.receiver}-${id}` } });
      } catch (e) {
        // A relay's refusal may be a passing state (auth backend down, greylisting): mail is always retried.
        throw new SendError((e as Error).message, false);
      }
    },
    close: () => transport.close(),
  };
}
