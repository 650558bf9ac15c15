import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { apiCall } from '../api/index.js';
import { loadConfig } from '../config/index.js';
import { type Paths, WaveosError } from '../core/index.js';
import { checkResponse } from './api-errors.js';
import { type Output, clientOptions, parseFlags, rootPaths } from './context.js';

const USAGE = 'waveos fleet status [--json] | provision --csr [--cn NAME] | provision --cert FILE [--ca FILE] | lock --reason TEXT | unlock  [--root DIR]';

function openssl(args: string[], what: string): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) throw new WaveosError('WAVEOS_E_RUNTIME', `${what}: cannot run openssl: ${r.error.message}`);
  if (r.status !== 0) throw new WaveosError('WAVEOS_E_USAGE', `${what}: ${r.stderr.trim().split('\n')[0] ?? 'openssl failed'}`);
  return r.stdout;
}

/** `--csr`: a P-256 key made here (0600, never leaves the board) and a CSR whose CN is the device id. */
function makeCsr(paths: Paths, cn: string | undefined): Record<string, unknown> {
  const dir = paths.fleetDir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = join(dir, 'tls.key');
  const csr = join(dir, 'tls.csr');
  const name = cn ?? loadConfig({ defaultFile: paths.configFile, fileExists: existsSync }).config.device.device_id;
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(name)) throw new WaveosError('WAVEOS_E_USAGE', `--cn ${name}: expected the device id (letters, digits, . _ : -)`);
  if (!existsSync(key)) {
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], 'generating the TLS key');
    chmodSync(key, 0o600);
  }
  openssl(['req', '-new', '-key', key, '-out', csr, '-subj', `/CN=${name}`], 'making the CSR');
  return { key, csr, cn: name, next: `have the fleet CA sign ${csr}, then: waveos fleet provision --cert FILE --ca CA_FILE` };
}

/** `--cert`: the signed certificate must carry this board's key (and chain to the CA given); then it is installed. */
function installCert(paths: Paths, cert: string, ca: string | undefined): Record<string, unknown> {
  const key = join(paths.fleetDir, 'tls.key');
  if (!existsSync(key)) throw new WaveosError('WAVEOS_E_USAGE', `${key} does not exist: run waveos fleet provision --csr first`);
  const certPub = openssl(['x509', '-in', cert, '-noout', '-pubkey'], `${cert}: not a PEM certificate`);
  const keyPub = openssl(['pkey', '-in', key, '-pubout'], `${key}: unreadable`);
  if (certPub.trim() !== keyPub.trim()) throw new WaveosError('WAVEOS_E_USAGE', `${cert}: the certificate is not for this board's key ${key}`);
  if (ca) openssl(['verify', '-CAfile', ca, cert], `${cert}: does not chain to ${ca}`);
  const subject = openssl(['x509', '-in', cert, '-noout', '-subject', '-enddate'], cert).trim();
  copyFileSync(cert, join(paths.fleetDir, 'tls.crt'));
  if (ca) copyFileSync(ca, join(paths.fleetDir, 'ca.crt'));
  return { cert: join(paths.fleetDir, 'tls.crt'), ca: ca ? join(paths.fleetDir, 'ca.crt') : null, key, subject };
}

function statusText(s: Record<string, unknown>): string {
  if (s.enabled === false) return 'fleet link: disabled (fleet.enabled is not set in the config)';
  const o = s.outbox as { depth: number; dropped: number };
  const e = s.events as { acked_seq: number; journal_seq: number; pending: number };
  const d = s.desired as { seq: number; state: string; reason: string; at: string } | null;
  const lock = s.update_lock as { held: boolean; reason: string | null };
  const a = s.applied as { seq: number; config_revision: string | null; policy_revision: string | null; at: string } | null;
  return [
    `fleet link: ${String(s.state)} to ${String(s.broker)} as ${String(s.fleet)}/${String(s.device)}${s.last_error ? ` (last error: ${String(s.last_error)})` : ''}`,
    `last sync: ${String(s.last_sync ?? 'never')}; reconnects: ${String(s.reconnects)}`,
    `outbox: ${o.depth} pending, ${o.dropped} dropped; events: acknowledged up to seq ${e.acked_seq} of ${e.journal_seq}`,
    `desired: ${d ? `seq ${d.seq} ${d.state} (${d.reason}) at ${d.at}` : 'none received'}`,
    `applied: ${a ? `seq ${a.seq} at ${a.at}; config revision ${a.config_revision ?? 'none'}, policy revision ${a.policy_revision ?? 'none'}` : 'no desired state applied yet'}`,
    `update lock: ${lock.held ? `held (${lock.reason ?? ''})` : 'free'}`,
  ].join('\n');
}

export async function fleetCommand(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parseFlags(argv, { csr: { type: 'boolean' }, cn: { type: 'string' }, cert: { type: 'string' }, ca: { type: 'string' }, reason: { type: 'string' } }, USAGE);
  const [sub, ...extra] = positionals;
  if (extra.length) throw new WaveosError('WAVEOS_E_USAGE', `unexpected ${extra.join(' ')}\nusage: ${USAGE}`);
  const paths = rootPaths(values.root);
  const print = (body: Record<string, unknown>, text: string): number => {
    io.out(values.json ? JSON.stringify(body) : text);
    return 0;
  };
  switch (sub) {
    case 'status': {
      const body = checkResponse(await apiCall(clientOptions(paths, values['token-file']), 'GET', '/v1/fleet')) as Record<string, unknown>;
      return print(body, statusText(body));
    }
    case 'provision': {
      if (values.csr === Boolean(values.cert)) throw new WaveosError('WAVEOS_E_USAGE', `give either --csr or --cert FILE\nusage: ${USAGE}`);
      const r = values.csr ? makeCsr(paths, values.cn) : installCert(paths, values.cert as string, values.ca);
      return print(r, values.csr ? `key ${String(r.key)} (0600, keep it on the board)\nCSR ${String(r.csr)} for CN=${String(r.cn)}\n${String(r.next)}` : `installed ${String(r.cert)}: ${String(r.subject)}`);
    }
    case 'lock': {
      if (!values.reason) throw new WaveosError('WAVEOS_E_USAGE', `the update lock needs --reason TEXT\nusage: ${USAGE}`);
      const body = checkResponse(await apiCall(clientOptions(paths, values['token-file']), 'POST', '/v1/fleet/lock', { reason: values.reason })) as Record<string, unknown>;
      return print(body, 'fleet updates are held until: waveos fleet unlock');
    }
    case 'unlock': {
      const body = checkResponse(await apiCall(clientOptions(paths, values['token-file']), 'DELETE', '/v1/fleet/lock')) as Record<string, unknown>;
      return print(body, 'fleet updates may run again');
    }
    default:
      throw new WaveosError('WAVEOS_E_USAGE', `usage: ${USAGE}`);
  }
}
