import { DurableQueue } from '../proxy/index.js';
import type { DeviceChannel } from './protocol.js';

/** One device message waiting for the broker's PUBACK; signed when it is sent (its outbox id is its seq). */
export interface OutboxRecord {
  id: number;
  channel: Exclude<DeviceChannel, 'events' | 'status'>;
  ts: string;
  body: Record<string, unknown>;
}

/**
 * The on-disk outbox of `health` and `cmd/result` messages: the uplink proxy's durable queue (append + fsync,
 * delivered id kept across crashes), bounded by `maxBytes`. When it is full a new message is refused and
 * counted: the oldest ones are the record of the time offline, and they are kept.
 */
export class Outbox {
  private readonly q: DurableQueue<OutboxRecord>;
  dropped = 0;

  constructor(dir: string, readonly maxBytes: number) {
    this.q = new DurableQueue<OutboxRecord>(dir, maxBytes);
  }

  push(channel: OutboxRecord['channel'], ts: string, body: Record<string, unknown>): boolean {
    const r = this.q.push({ channel, ts, body });
    if (!r) this.dropped++;
    return r !== undefined;
  }

  peek(): OutboxRecord | undefined {
    return this.q.peek();
  }

  ack(id: number): void {
    this.q.ack(id);
  }

  get depth(): number {
    return this.q.depth;
  }

  close(): void {
    this.q.close();
  }
}
