import { errorMessage } from '../core/index.js';
import { loadTrustedKeys } from '../bundles/index.js';
import { type CmdMessage, type CmdResultBody, type DesiredMessage, type FleetChannel, type RefusalCode, acceptSeq, parseTopic, verifyFleetMessage } from './protocol.js';
import type { FleetState } from './state.js';
import type { FleetDeps } from './types.js';

export interface InboundSinks {
  result(body: CmdResultBody): void;
  command(m: CmdMessage): void;
  desired(m: DesiredMessage, duplicate: boolean): void;
}

/**
 * Every message the broker delivers to the device: checked end to end (protocol.ts verifyFleetMessage) with
 * the fleet keys in etc/waveos/fleet-keys/ as they are now, its seq recorded durably before it is acted on,
 * and a refusal journaled, audited and answered on cmd/result.
 */
export class Inbound {
  private readonly skipped = new Set<string>();

  constructor(
    private readonly d: FleetDeps,
    private readonly store: FleetState,
    private readonly sinks: InboundSinks,
  ) {}

  /** Re-read at every message (a handful of small files): a key added or removed counts at once, as for bundles. */
  private keys(): Map<string, Uint8Array> {
    const keys = loadTrustedKeys(this.d.paths.fleetKeysDir, (file, why) => {
      const mark = `${file}\n${why}`;
      if (this.skipped.has(mark)) return;
      this.skipped.add(mark);
      this.d.journal.append({ kind: 'fleet.key_skipped', severity: 'warning', source: 'fleet', reason: `${file} is not a usable fleet key and adds no trust: ${why}`, data: { file, error: why } });
    });
    return new Map(keys.map((k) => [k.key_id, k.publicKey]));
  }

  receive(topic: string, payload: Buffer): void {
    try {
      this.handle(topic, payload);
    } catch (e) {
      this.d.log.error({ err: errorMessage(e), topic }, 'fleet message handling failed');
    }
  }

  private handle(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    if (!t || (t.channel !== 'desired' && t.channel !== 'cmd')) return;
    // An empty retained payload is the controller clearing its desired state: nothing to do, nothing refused.
    if (payload.length === 0) return;
    const channel = t.channel as FleetChannel;
    const st = this.store.get();
    const v = verifyFleetMessage(channel, payload, {
      fleet: this.d.config.fleet,
      deviceId: this.d.deviceId,
      cohorts: this.d.config.cohorts,
      keys: this.keys(),
      nowMs: this.d.clock.now(),
      seq: st.seq[channel],
    });
    if (!v.ok) return this.refuse(channel, v.code, v.reason, v.partial);
    if (v.duplicate) {
      if (channel === 'desired') this.sinks.desired(v.message as DesiredMessage, true);
      return;
    }
    const m = v.message;
    const seq = { ...st.seq, [channel]: acceptSeq(st.seq[channel], m.seq, v.digest) };
    if (channel === 'cmd') {
      const c = m as CmdMessage;
      this.store.updateWithEvent(
        { seq },
        {
          kind: 'fleet.command',
          severity: 'notice',
          source: `fleet:${c.issuer}`,
          reason: `fleet command ${c.body.id} (${c.body.action}) from ${c.issuer}, seq ${c.seq}, signed by ${c.key_id}`,
          data: { cmd_id: c.body.id, action: c.body.action, seq: c.seq, issuer: c.issuer, key_id: c.key_id },
        },
      );
      this.sinks.command(c);
      return;
    }
    const dm = m as DesiredMessage;
    this.store.updateWithEvent(
      { seq },
      {
        kind: 'fleet.desired',
        severity: 'notice',
        source: `fleet:${dm.issuer}`,
        reason: `desired state seq ${dm.seq} from ${dm.issuer}: ${Object.entries(dm.body.bundles).map(([n, b]) => `${n} ${b.version}`).join(', ') || 'no bundles'}`,
        data: { seq: dm.seq, issuer: dm.issuer, bundles: Object.fromEntries(Object.entries(dm.body.bundles).map(([n, b]) => [n, b.version])), changes: null },
      },
    );
    this.sinks.desired(dm, false);
  }

  private refuse(channel: FleetChannel, code: RefusalCode, reason: string, p: { seq: number | null; issuer: string | null; id: string | null; key_id: string | null }): void {
    const principal = `fleet:${p.issuer ?? 'unknown'}`;
    const what = `${channel === 'cmd' ? `command${p.id ? ` ${p.id}` : ''}` : 'desired state'}${p.seq === null ? '' : ` seq ${p.seq}`}`;
    const why = `refused the fleet ${what}: ${code}: ${reason}`;
    this.d.journal.append({
      kind: 'fleet.message_refused',
      severity: 'warning',
      source: 'fleet',
      reason: why,
      data: { channel, code, seq: p.seq, key_id: p.key_id, issuer: p.issuer, cmd_id: p.id },
    });
    this.d.auditRefusal({ principal, action: `fleet.${channel}`, target: p.id, reason: why });
    this.sinks.result({ cmd_id: p.id, cmd_seq: p.seq, action: channel === 'cmd' ? null : 'desired', outcome: 'refused', code, reason: why, data: {} });
  }
}
