import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { apiCall } from '../api/index.js';
import { BUNDLE_KINDS, type BundleKind, DEFAULT_LIMITS, type InstallRecord, buildBundle, generateKeyPair, loadTrustedKeys, readBundleHead, readSigningKey, verifyBundle } from '../bundles/index.js';
import { WaveosError, parseDuration, systemClock } from '../core/index.js';
import { checkResponse } from './api-errors.js';
import { type Output, clientOptions, parseFlags, rootPaths } from './context.js';

const USAGE = `waveos bundle keygen --out DIR
             | build DIR --kind K --version V --key KEY --out FILE [--name N] [--waveos-version V] [--policy-version V]
                   [--expires DURATION] [--run "CMD ARGS"] [--health "CMD ARGS"] [--trial DURATION]
             | verify FILE [--keys DIR] | inspect FILE                      (offline)
             | install FILE | list | rollback [--kind K] [--name N]        (daemon)`;

const OPTIONS = {
  out: { type: 'string' },
  kind: { type: 'string' },
  version: { type: 'string' },
  key: { type: 'string' },
  name: { type: 'string' },
  keys: { type: 'string' },
  'waveos-version': { type: 'string' },
  'policy-version': { type: 'string' },
  expires: { type: 'string' },
  run: { type: 'string' },
  health: { type: 'string' },
  trial: { type: 'string' },
} as const;

function usage(msg: string): WaveosError {
  return new WaveosError('WAVEOS_E_USAGE', `${msg}\nusage: ${USAGE}`);
}

function need(v: string | undefined, flag: string): string {
  if (!v) throw usage(`${flag} is required`);
  return v;
}

function duration(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined) throw usage(`${flag}: expected a duration such as 30s, 12h or 90d, got "${v}"`);
  return ms;
}

const words = (v: string | undefined): string[] | undefined => (v === undefined ? undefined : v.split(/\s+/).filter(Boolean));

function describe(r: InstallRecord): string {
  return `${r.kind ?? '?'} ${r.name ?? basename(r.source)} ${r.version ?? ''} (${r.bundle_id?.slice(0, 12) ?? '?'}): ${r.state}${r.reason ? ` — ${r.reason}` : ''}`;
}

export async function bundleCommand(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parseFlags(argv, OPTIONS, USAGE);
  const [sub, ...args] = positionals;
  switch (sub) {
    case 'keygen': {
      const k = generateKeyPair(need(values.out, '--out'));
      if (values.json) io.out(JSON.stringify(k));
      else io.out(`key ${k.key_id}\n  signing key ${k.keyFile} (0600: keep it off the board)\n  public key  ${k.pubFile} (copy to etc/waveos/keys/ on the board)`);
      return 0;
    }
    case 'build': {
      if (args.length !== 1) throw usage('build takes one DIR');
      const dir = args[0] as string;
      const kind = need(values.kind, '--kind');
      if (!(BUNDLE_KINDS as readonly string[]).includes(kind)) throw usage(`--kind: expected one of ${BUNDLE_KINDS.join(', ')}, got "${kind}"`);
      const run = words(values.run);
      const health = words(values.health);
      const trial = duration(values.trial, '--trial');
      const m = await buildBundle({
        dir,
        kind: kind as BundleKind,
        name: values.name ?? (kind === 'waveos' ? 'waveos' : basename(resolve(dir))),
        version: need(values.version, '--version'),
        key: readSigningKey(need(values.key, '--key')),
        out: need(values.out, '--out'),
        clock: systemClock,
        waveosVersion: values['waveos-version'],
        policyVersion: values['policy-version'],
        expiresInMs: duration(values.expires, '--expires'),
        app: run || health || trial !== undefined ? { ...(run ? { run } : {}), ...(health ? { health } : {}), ...(trial !== undefined ? { trial_ms: trial } : {}) } : undefined,
      });
      if (values.json) io.out(JSON.stringify({ out: values.out, manifest: m }));
      else io.out(`${values.out}: ${m.kind} ${m.name} ${m.version}, ${m.files.length} files, bundle_id ${m.bundle_id}, signed by ${m.key_id}`);
      return 0;
    }
    case 'verify': {
      if (args.length !== 1) throw usage('verify takes one FILE');
      const file = args[0] as string;
      const keysDir = values.keys ?? rootPaths(values.root).keysDir;
      const keys = loadTrustedKeys(keysDir);
      if (keys.length === 0) throw new WaveosError('WAVEOS_E_BUNDLE_SIGNATURE', `no trusted keys in ${keysDir}: nothing can verify ${file}`);
      // The same checks as the board's verify stage, content included (parsed in a scratch folder that is removed).
      const v = await verifyBundle({ file, keys, limits: DEFAULT_LIMITS, now: new Date() }, join(tmpdir(), `waveos-verify-${process.pid}-${Date.now()}`));
      const m = v.manifest;
      if (values.json) io.out(JSON.stringify({ file, valid: true, signed_by: v.signedBy, manifest: m, payload_bytes: v.payloadBytes }));
      else io.out(`${file}: valid — ${m.kind} ${m.name} ${m.version}, ${v.fileCount} files, ${v.payloadBytes} bytes, signed by ${v.signedBy.join(', ')}${m.expires_at ? `, expires ${m.expires_at}` : ''}`);
      return 0;
    }
    case 'inspect': {
      if (args.length !== 1) throw usage('inspect takes one FILE');
      const file = args[0] as string;
      if (!existsSync(file)) throw new WaveosError('WAVEOS_E_USAGE', `${file}: no such file`);
      const head = await readBundleHead(file);
      if (values.json) {
        io.out(JSON.stringify(head));
        return 0;
      }
      const m = head.manifest as { kind?: string; name?: string; version?: string; bundle_id?: string; key_id?: string; created_at?: string; expires_at?: string; files?: { path: string; type: string; size?: number; sha256?: string }[] } | null;
      io.out(
        [
          `${file} (not verified: use \`waveos bundle verify\`)`,
          `  kind ${m?.kind} name ${m?.name} version ${m?.version}`,
          `  bundle_id ${m?.bundle_id}`,
          `  key_id ${m?.key_id}, created ${m?.created_at}${m?.expires_at ? `, expires ${m.expires_at}` : ''}`,
          `  files (${m?.files?.length ?? 0}):`,
          ...(m?.files ?? []).slice(0, 200).map((f) => `    ${f.type === 'file' ? `${String(f.size).padStart(12)}  ${f.sha256?.slice(0, 16)}` : `${f.type.padStart(12)}  ${''.padEnd(16)}`}  ${f.path}`),
        ].join('\n'),
      );
      return 0;
    }
    case 'install':
      return await installCommand(args, values, io);
    case 'list': {
      const paths = rootPaths(values.root);
      const body = checkResponse(await apiCall(clientOptions(paths, values['token-file']), 'GET', '/v1/bundles')) as {
        installed: { kind: string; name: string; current?: string; lastKnownGood?: string; current_version?: string; last_known_good_version?: string }[];
        active: InstallRecord | null;
        history: InstallRecord[];
      };
      if (values.json) {
        io.out(JSON.stringify(body));
        return 0;
      }
      const lines = ['installed:'];
      if (body.installed.length === 0) lines.push('  none');
      for (const g of body.installed) {
        lines.push(`  ${g.kind}/${g.name}  current ${g.current_version ?? '-'} (${g.current?.slice(0, 12) ?? 'none'})  last known-good ${g.last_known_good_version ?? '-'} (${g.lastKnownGood?.slice(0, 12) ?? 'none'})`);
      }
      lines.push(`in progress: ${body.active ? describe(body.active) : 'none'}`, 'history (newest first):');
      for (const h of body.history.slice(0, 20)) lines.push(`  ${h.install_id}  ${h.finished_at ?? ''}  ${describe(h)}`);
      io.out(lines.join('\n'));
      return 0;
    }
    case 'rollback': {
      const paths = rootPaths(values.root);
      const req: Record<string, string> = {};
      if (values.kind) req.kind = values.kind;
      if (values.name) req.name = values.name;
      const body = checkResponse(await apiCall({ ...clientOptions(paths, values['token-file']), timeoutMs: 120_000 }, 'POST', '/v1/bundles/rollback', req)) as { rollback: Record<string, unknown> };
      if (values.json) io.out(JSON.stringify(body));
      else io.out(`${String(body.rollback.bundle_kind)}/${String(body.rollback.name)} rolled back from ${String(body.rollback.from_version)} to ${String(body.rollback.to_version)}`);
      return 0;
    }
    case undefined:
    default:
      throw usage(`unknown bundle command "${sub ?? ''}"`);
  }
}

/** `bundle install FILE`: through the daemon; on a terminal each step is said as it happens (stderr). */
async function installCommand(args: string[], values: { root?: string; json?: boolean; 'token-file'?: string }, io: Output): Promise<number> {
  if (args.length !== 1) throw usage('install takes one FILE');
  const file = resolve(args[0] as string);
  if (!existsSync(file)) throw new WaveosError('WAVEOS_E_USAGE', `${file}: no such file`);
  const paths = rootPaths(values.root);
  const opts = clientOptions(paths, values['token-file']);
  const progress = new AbortController();
  const showing = !values.json && process.stderr.isTTY === true;
  if (showing) {
    const { followInstall } = await import('./install-progress.js');
    void followInstall(opts, new Date().toISOString(), (l) => io.err(l), progress.signal);
  }
  let body: { install: InstallRecord };
  try {
    body = checkResponse(await apiCall({ ...opts, timeoutMs: 3_600_000 }, 'POST', '/v1/bundles/install', { path: file })) as { install: InstallRecord };
  } finally {
    // The last step's event may still be on its way: a moment for it, then the answer.
    if (showing) await new Promise((r) => setTimeout(r, 200));
    progress.abort();
  }
  const r = body.install;
  if (values.json) io.out(JSON.stringify(body));
  else io.out(describe(r));
  if (r.state === 'rolled_back') throw new WaveosError('WAVEOS_E_BUNDLE_ROLLED_BACK', `the bundle was installed but failed its trial and was rolled back: ${r.reason ?? ''}`);
  return 0;
}
