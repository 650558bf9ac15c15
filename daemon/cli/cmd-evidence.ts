import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { apiCall, apiDownload } from '../api/index.js';
import { WaveosError, isWaveosError } from '../core/index.js';
import { type PackListing, type PackSummary, listPacks, publicKeyText, readDevicePublicKey, verifyPack } from '../evidence/index.js';
import { checkResponse } from './api-errors.js';
import { parseSince } from './cmd-events.js';
import { type Output, clientOptions, parseFlags, rootPaths } from './context.js';

const USAGE = `waveos evidence export [--since DURATION|TIME] [--until DURATION|TIME] [--reason TEXT] [--out FILE]
       waveos evidence list [--json]
       waveos evidence verify FILE [--keys DIR] [--json]      (offline)
       waveos evidence pubkey [--out FILE]                    (offline)`;

function usage(msg: string): WaveosError {
  return new WaveosError('WAVEOS_E_USAGE', `${msg}\nusage: ${USAGE}`);
}

export async function evidenceCommand(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    { since: { type: 'string' }, until: { type: 'string' }, reason: { type: 'string' }, out: { type: 'string' }, keys: { type: 'string' } },
    USAGE,
  );
  const [sub, ...args] = positionals;
  const paths = rootPaths(values.root);
  switch (sub) {
    case 'export': {
      if (args.length > 0) throw usage(`unexpected argument "${args[0]}"`);
      const now = Date.now();
      const body: Record<string, unknown> = { reason: values.reason ?? 'on demand' };
      if (values.since !== undefined) body.since = parseSince(values.since, now);
      if (values.until !== undefined) {
        try {
          body.until = parseSince(values.until, now);
        } catch (e) {
          throw usage(`--until: ${(e as Error).message.replace(/^--since: /, '')}`);
        }
      }
      if (values.reason !== undefined && !values.reason.trim()) throw usage('--reason: expected some words, got nothing');
      const opts = { ...clientOptions(paths, values['token-file']), timeoutMs: 300_000 };
      const out = checkResponse(await apiCall(opts, 'POST', '/v1/evidence/export', body)) as PackSummary;
      let where = out.file;
      if (values.out) {
        const dest = resolve(values.out);
        const tmp = join(dirname(dest), `.${basename(dest)}.download-${process.pid}`);
        try {
          checkResponse(await apiDownload(opts, `/v1/evidence/${encodeURIComponent(out.name)}`, tmp));
          renameSync(tmp, dest);
        } finally {
          rmSync(tmp, { force: true });
        }
        where = dest;
      }
      if (values.json) io.out(JSON.stringify({ ...out, out: where }));
      else
        io.out(
          `exported ${out.name}: ${out.bytes} bytes, ${out.events} events, ${out.samples} samples, window ${out.window.since} → ${out.window.until}, in ${out.ms} ms\n${where}`,
        );
      return 0;
    }
    case 'list': {
      let packs: PackListing[];
      try {
        packs = (checkResponse(await apiCall(clientOptions(paths, values['token-file']), 'GET', '/v1/evidence')) as { packs: PackListing[] }).packs;
      } catch (e) {
        // A listing needs no daemon: read the folder.
        if (!(isWaveosError(e) && e.code === 'WAVEOS_E_DAEMON_UNREACHABLE')) throw e;
        packs = listPacks(paths);
      }
      if (values.json) io.out(JSON.stringify({ packs }));
      else if (packs.length === 0) io.out(`no evidence packs in ${paths.evidenceDir}`);
      else io.out(packs.map((p) => `${p.created_at}  ${String(p.bytes).padStart(10)}  ${p.name}`).join('\n'));
      return 0;
    }
    case 'verify': {
      const file = args[0];
      if (!file || args.length > 1) throw usage('verify takes one pack file');
      const report = await verifyPack(file, { keysDir: values.keys });
      if (values.json) io.out(JSON.stringify({ ...report, manifest: undefined, device_id: report.manifest?.device.device_id }));
      if (!report.ok) {
        const lines = report.problems.map((p) => `${p.file}: ${p.message}`);
        throw new WaveosError('WAVEOS_E_EVIDENCE_VERIFY', `${file}: verification failed:\n  ${lines.join('\n  ')}`);
      }
      const m = report.manifest;
      if (!values.json && m)
        io.out(
          [
            `${file}: verified`,
            `  device     ${m.device.device_id} (${m.device.app_id}, ${m.device.environment})`,
            `  signature  valid, key ${m.device.key_id}${report.trusted_by ? `, trusted (${report.trusted_by})` : values.keys ? '' : ' (no --keys given: checked against the key inside the pack only)'}`,
            `  files      ${report.files_checked} match their sha256`,
            `  events     ${report.events_checked}${m.journal.first_seq ? `, seq ${m.journal.first_seq}..${m.journal.last_seq}` : ''}, hash chain intact`,
            `  window     ${m.window.since} → ${m.window.until}`,
            `  reason     ${m.reason} (${m.trigger}, by ${m.requested_by})`,
          ].join('\n'),
        );
      return 0;
    }
    case 'pubkey': {
      if (!existsSync(paths.deviceKey)) throw new WaveosError('WAVEOS_E_NOT_FOUND', `no device key at ${paths.deviceKey}: start the daemon once on this root to create it`);
      const key = readDevicePublicKey(paths.deviceKey);
      const text = publicKeyText(key, deviceIdFromPub(paths.devicePub));
      if (values.out) {
        writeFileSync(values.out, text, { mode: 0o644 });
        io.out(`wrote ${key.keyId} to ${values.out}`);
      } else if (values.json) io.out(JSON.stringify({ public_key: key.publicKeyB64, key_id: key.keyId }));
      else io.out(text.trimEnd());
      return 0;
    }
    case undefined:
      throw usage('a subcommand is needed');
    default:
      throw usage(`unknown subcommand "${sub}"`);
  }
}

/** The device id the daemon wrote into device.pub (third word), for the comment of an exported key. */
function deviceIdFromPub(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split(/\s+/)[2] ?? 'device';
  } catch {
    return 'device';
  }
}
