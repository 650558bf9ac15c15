import { join } from 'node:path';
import type { Logger } from '../core/index.js';
import type { EventInput } from '../journal/index.js';
import { DurableQueue } from '../proxy/index.js';
import type { Notification } from './groups.js';
import type { DeviceFacts } from './render.js';
import { SendError, type Sender } from './senders.js';

export interface OutboxDeps {
  dir: string;
  quotaBytes: number;
  backoffMs: number;
  maxBackoffMs: number;
  emit(e: EventInput): void;
  log: Logger;
  facts(): DeviceFacts;
  random?: () => number;
}

/**
 * One receiver's durable outbox: notifications are appended and fsync'd before they count as queued, and
 * delivered strictly in order, each retried with jittered exponential backoff until it is sent (or refused
 * for good). A kill -9 or a power cut at any point leaves the file the next start delivers from (at least
 * once: a notification sent just before the cut may be sent again; its `id` lets a receiver tell).
 */
export class ReceiverOutbox {
  private readonly queue: DurableQueue;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private dropped = 0;
  /** Failed attempts of the notification at the head. */
  private attempts = 0;

  constructor(
    readonly receiver: string,
    private readonly sender: Sender,
    private readonly deps: OutboxDeps,
  ) {
    this.queue = new DurableQueue(join(deps.dir, receiver), deps.quotaBytes);
  }

  get depth(): number {
    return this.queue.depth;
  }

  /** Appends durably; false (counted, journaled) when the outbox is at its quota. */
  enqueue(n: Notification): boolean {
    const body = Buffer.from(JSON.stringify(n)).toString('base64');
    const stored = this.queue.push({ key: n.group_key, route: this.receiver, method: 'POST', path: '', headers: {}, body, accepted_at: n.created_at });
    if (!stored) {
      this.dropped++;
      this.deps.emit({
        kind: 'alert.dropped',
        severity: 'error',
        source: 'alerting',
        reason: `a ${n.status} notification for ${this.receiver} was dropped: its outbox is at its quota of ${this.deps.quotaBytes} bytes (${this.dropped} dropped this run)`,
        data: { receiver: this.receiver, group_key: n.group_key, status: n.status, quota_bytes: this.deps.quotaBytes, outbox_bytes: this.queue.bytes, dropped: this.dropped },
      });
      return false;
    }
    this.deps.emit({
      kind: 'alert.notified',
      severity: 'notice',
      source: 'alerting',
      reason: `${n.trigger} ${n.status} notification of ${n.alerts.length} alert(s) (${[...new Set(n.alerts.map((a) => a.alertname))].join(', ')}) queued for ${this.receiver}`,
      data: { receiver: this.receiver, outbox_id: stored.id, group_key: n.group_key, status: n.status, trigger: n.trigger, alerts: n.alerts.map((a) => ({ alertname: a.alertname, rule: a.rule, status: a.status, seq: a.seq })), depth: this.queue.depth },
    });
    this.wake?.();
    return true;
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    this.sender.close();
    this.queue.close();
  }

  /** Waits `ms`, or less when stopping; an idle wait also ends when something is queued (a backoff does not). */
  private sleep(ms: number, idle: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.abort.signal.removeEventListener('abort', done);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.abort.signal.addEventListener('abort', done, { once: true });
      if (idle) this.wake = done;
    });
  }

  private async loop(): Promise<void> {
    while (!this.abort.signal.aborted) {
      const head = this.queue.peek();
      if (!head) {
        await this.sleep(3_600_000, true);
        continue;
      }
      const n = JSON.parse(Buffer.from(head.body, 'base64').toString('utf8')) as Notification;
      try {
        await this.sender.send(n, this.deps.facts(), head.id);
        this.queue.ack(head.id);
        this.deps.emit({
          kind: 'alert.sent',
          severity: 'info',
          source: 'alerting',
          reason: `the ${n.status} notification ${head.id} reached ${this.receiver} (${this.sender.target}) after ${this.attempts + 1} attempt(s)`,
          data: { receiver: this.receiver, outbox_id: head.id, group_key: n.group_key, status: n.status, attempts: this.attempts + 1, target: this.sender.target, depth: this.queue.depth },
        });
        this.attempts = 0;
      } catch (e) {
        if (this.abort.signal.aborted) return;
        this.attempts++;
        const permanent = e instanceof SendError && e.permanent;
        const cap = Math.min(this.deps.maxBackoffMs, this.deps.backoffMs * 2 ** Math.min(this.attempts - 1, 30));
        const delay = Math.round(cap / 2 + (this.deps.random ?? Math.random)() * (cap / 2));
        this.deps.emit({
          kind: permanent ? 'alert.rejected' : 'alert.send_failed',
          severity: permanent ? 'error' : 'warning',
          source: 'alerting',
          reason: permanent
            ? `${this.receiver} (${this.sender.target}) refused notification ${head.id} for good (${(e as Error).message}); it is dropped`
            : `notification ${head.id} could not reach ${this.receiver} (${this.sender.target}): ${(e as Error).message}; attempt ${this.attempts}, next in ${delay} ms`,
          data: { receiver: this.receiver, outbox_id: head.id, group_key: n.group_key, status: n.status, attempts: this.attempts, error: (e as Error).message, target: this.sender.target, retry_in_ms: permanent ? null : delay, depth: this.queue.depth },
        });
        if (permanent) {
          this.queue.ack(head.id);
          this.attempts = 0;
          continue;
        }
        await this.sleep(delay, false);
      }
    }
  }
}
