import type { Logger } from '../core/index.js';
import { errorMessage } from '../core/index.js';
import type { EventInput } from '../journal/index.js';

export interface WebhookOptions {
  url: string;
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
  backoffMs: number;
  maxBackoffMs: number;
  /** Bounded queue: when full the oldest waiting call is dropped and counted. */
  queueMax: number;
  log: Logger;
  emit(e: EventInput): void;
  random?: () => number;
  fetch?: typeof fetch;
}

interface Job {
  body: Record<string, unknown>;
  ruleId: string;
}

/**
 * Delivers alert webhooks one at a time in the background: a bounded queue, a timeout per attempt, bounded
 * retries with exponential backoff and full jitter. `send` never waits, so the policy loop is never blocked.
 */
export class WebhookSender {
  private readonly queue: Job[] = [];
  private running = false;
  private dropped = 0;
  private readonly abort = new AbortController();
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: WebhookOptions) {}

  send(body: Record<string, unknown>, ruleId: string): void {
    if (this.abort.signal.aborted) return;
    if (this.queue.length >= this.opts.queueMax) {
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push({ body, ruleId });
    if (!this.running) void this.drain();
  }

  /** Resolves when nothing is queued or in flight (tests). */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stop(): void {
    this.abort.abort();
    this.queue.length = 0;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      for (;;) {
        const job = this.queue.shift();
        if (!job || this.abort.signal.aborted) break;
        await this.deliver(job);
      }
    } finally {
      this.running = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async deliver(job: Job): Promise<void> {
    const { url, timeoutMs, retries, backoffMs, maxBackoffMs } = this.opts;
    const doFetch = this.opts.fetch ?? fetch;
    const random = this.opts.random ?? Math.random;
    const errors: string[] = [];
    const dropped = this.dropped;
    this.dropped = 0;
    const payload = JSON.stringify(dropped > 0 ? { ...job.body, dropped_before: dropped } : job.body);
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (this.abort.signal.aborted) return;
      if (attempt > 0) {
        const cap = Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1));
        await sleep(Math.round(cap / 2 + random() * (cap / 2)), this.abort.signal);
        if (this.abort.signal.aborted) return;
      }
      // A timer of our own, not AbortSignal.timeout inside AbortSignal.any: that pair can be collected while the
      // fetch waits (seen under load on Node 20), and a hung endpoint then holds the queue for good.
      const attemptAbort = new AbortController();
      const timer = setTimeout(() => attemptAbort.abort(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
      const stop = (): void => attemptAbort.abort(this.abort.signal.reason);
      this.abort.signal.addEventListener('abort', stop, { once: true });
      try {
        const res = await doFetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload, signal: attemptAbort.signal });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.opts.emit({
            kind: 'policy.webhook_delivered',
            severity: 'info',
            source: `policy:${job.ruleId}`,
            reason: `the alert webhook for rule ${job.ruleId} was delivered (HTTP ${res.status}) after ${attempt + 1} attempt${attempt === 0 ? '' : 's'}`,
            data: { rule_id: job.ruleId, status: res.status, attempts: attempt + 1, dropped_before: dropped, host: hostOf(url) },
          });
          return;
        }
        errors.push(`HTTP ${res.status}`);
      } catch (e) {
        errors.push(attemptAbort.signal.aborted && !this.abort.signal.aborted ? `timeout after ${timeoutMs} ms` : errorMessage(e));
      } finally {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', stop);
      }
    }
    if (this.abort.signal.aborted) return;
    this.opts.log.warn({ rule_id: job.ruleId, errors }, 'alert webhook failed');
    this.opts.emit({
      kind: 'policy.webhook_failed',
      severity: 'warning',
      source: `policy:${job.ruleId}`,
      reason: `the alert webhook for rule ${job.ruleId} failed after ${retries + 1} attempts (last: ${errors[errors.length - 1] ?? 'unknown'}); it is not retried further`,
      data: { rule_id: job.ruleId, attempts: retries + 1, errors, timeout_ms: timeoutMs, dropped_before: dropped, host: hostOf(url) },
    });
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '?';
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    t.unref();
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
