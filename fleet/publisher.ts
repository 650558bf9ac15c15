/*
 * Publishes the desired documents the database holds and the broker has not acknowledged yet (retained,
 * QoS 1). Marks a document published only after the broker's PUBACK and only if it is still the same seq,
 * so a newer document written meanwhile is published in its turn. After a broker reconnect every document
 * is published again: the broker may have lost its retained messages, and a device ignores a byte-identical
 * re-delivery.
 */
import type { MqttClient } from 'mqtt';
import { topicOf } from '../daemon/fleet/protocol.js';
import type { Db } from './db.js';

export class Publisher {
  private busy = false;
  private again = false;
  published = 0;

  constructor(
    private readonly db: Db,
    private readonly fleet: string,
    private readonly client: MqttClient,
    private readonly log: (msg: string) => void,
  ) {}

  async republishAll(): Promise<void> {
    await this.db.query('UPDATE fleet_desired SET published = false WHERE fleet = $1 AND published', [this.fleet]);
    this.kick();
  }

  kick(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    void this.run()
      .catch((e: unknown) => this.log(`publisher: ${(e as Error).message}; retrying`))
      .finally(() => {
        this.busy = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async run(): Promise<void> {
    for (;;) {
      if (!this.client.connected) return;
      const r = await this.db.query<{ device_id: string; seq: string; doc: string }>(
        'SELECT device_id, seq, doc FROM fleet_desired WHERE fleet = $1 AND NOT published ORDER BY seq LIMIT 1000',
        [this.fleet],
      );
      if (r.rows.length === 0) return;
      await Promise.all(r.rows.map((row) => this.client.publishAsync(topicOf(this.fleet, row.device_id, 'desired'), row.doc, { qos: 1, retain: true })));
      await this.db.query(
        `UPDATE fleet_desired f SET published = true FROM jsonb_to_recordset($2::jsonb) AS x(device_id text, seq bigint)
         WHERE f.fleet = $1 AND f.device_id = x.device_id AND f.seq = x.seq`,
        [this.fleet, JSON.stringify(r.rows.map((x) => ({ device_id: x.device_id, seq: Number(x.seq) })))],
      );
      this.published += r.rows.length;
    }
  }
}
