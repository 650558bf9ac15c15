import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { errorMessage } from '../core/index.js';
import type { CmdBody, CmdMessage, CmdResultBody } from './protocol.js';
import type { FleetDeps } from './types.js';

/** The role each command needs, as the control API's routes for the same change need it. */
const ROLE_OF: Record<CmdBody['action'], 'viewer' | 'operator' | 'admin'> = {
  export_evidence: 'operator',
  restart_service: 'operator',
  set_mode: 'operator',
  report: 'viewer',
};

type Outcome = Pick<CmdResultBody, 'outcome' | 'reason' | 'data'>;

/** Uploads a file with PUT or POST (streamed); resolves with the HTTP status. */
async function upload(file: string, u: { url: string; method: 'PUT' | 'POST'; headers: Record<string, string> }, timeoutMs: number): Promise<number> {
  const bytes = statSync(file).size;
  const res = await fetch(u.url, {
    method: u.method,
    headers: { 'content-type': 'application/gzip', 'content-length': String(bytes), ...u.headers },
    body: Readable.toWeb(createReadStream(file)) as ReadableStream,
    // Node's fetch needs this for a streamed request body.
    duplex: 'half',
    signal: AbortSignal.timeout(timeoutMs),
  } as RequestInit);
  await res.arrayBuffer().catch(() => undefined);
  return res.status;
}

/**
 * Fleet commands: authorized as the fleet's role (audited), then carried out through the same paths as the
 * control API's — the executor for a restart or a mode change, the evidence service for a pack — with
 * `fleet:<issuer>` as the author, and answered on cmd/result. One at a time, in the order accepted.
 */
export class Commands {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly d: FleetDeps,
    private readonly out: { result(body: CmdResultBody): void; report(): void },
  ) {}

  run(m: CmdMessage): void {
    this.chain = this.chain.then(() => this.one(m)).catch((e: unknown) => this.d.log.error({ err: errorMessage(e) }, 'fleet command failed'));
  }

  private async one(m: CmdMessage): Promise<void> {
    const who = `fleet:${m.issuer}`;
    const c = m.body;
    const target = c.action === 'restart_service' ? c.args.service : c.action === 'set_mode' ? c.args.mode : null;
    const auth = this.d.authorize({ principal: who, action: `fleet.${c.action}`, need: ROLE_OF[c.action], target });
    let out: Outcome;
    if (!auth.allowed) out = { outcome: 'refused', reason: auth.reason, data: { code: 'rbac' } };
    else {
      try {
        out = await this.perform(c, who);
      } catch (e) {
        out = { outcome: 'failed', reason: errorMessage(e), data: {} };
      }
    }
    const code = out.outcome === 'refused' ? 'rbac' : null;
    this.d.journal.append({
      kind: 'fleet.command_done',
      severity: out.outcome === 'succeeded' ? 'notice' : 'warning',
      source: who,
      reason: `fleet command ${c.id} (${c.action}) ${out.outcome}: ${out.reason}`,
      data: { cmd_id: c.id, action: c.action, seq: m.seq, outcome: out.outcome, reason: out.reason },
    });
    this.out.result({ cmd_id: c.id, cmd_seq: m.seq, action: c.action, outcome: out.outcome, code, reason: out.reason, data: out.data });
  }

  private async perform(c: CmdBody, who: string): Promise<Outcome> {
    switch (c.action) {
      case 'restart_service': {
        const r = await this.d.run({ action: 'service.restart', params: { service: c.args.service }, reason: `${who} (fleet command ${c.id}) asked to restart ${c.args.service}`, source: who });
        return { outcome: 'succeeded', reason: r.reason, data: { intent_id: r.intent_id } };
      }
      case 'set_mode': {
        const r = await this.d.run({ action: 'mode.set', params: { mode: c.args.mode }, reason: `${who} (fleet command ${c.id}): ${c.args.reason}`, source: who });
        return { outcome: 'succeeded', reason: r.reason, data: { intent_id: r.intent_id, mode: c.args.mode } };
      }
      case 'report':
        this.out.report();
        return { outcome: 'succeeded', reason: 'status, health and events re-sent', data: {} };
      case 'export_evidence':
        return this.exportAndUpload(c, who);
    }
  }

  private async exportAndUpload(c: Extract<CmdBody, { action: 'export_evidence' }>, who: string): Promise<Outcome> {
    const pack = await this.d.exportEvidence({ reason: c.args.reason, since: c.args.since, requestedBy: who });
    if (!pack.ok) return { outcome: 'failed', reason: `the evidence export failed: ${pack.error}`, data: {} };
    const up = c.args.upload;
    const host = new URL(up.url).host;
    const status = await upload(pack.file, up, this.d.config.download_timeout_ms);
    const data = { name: pack.name, bytes: pack.bytes, sha256: pack.sha256, http_status: status, host };
    if (status < 200 || status > 299) return { outcome: 'failed', reason: `the upload of ${pack.name} to ${host} was answered ${status}`, data };
    return { outcome: 'succeeded', reason: `exported ${pack.name} (${pack.bytes} bytes) and uploaded it to ${host} (HTTP ${status})`, data };
  }
}
