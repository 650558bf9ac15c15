import { type Dirent, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../config/index.js';
import { type InputProblem, errorMessage, formatProblem, isWaveosError } from '../core/index.js';
import { type ParsedPolicyFile, buildPolicySet, parsePolicyText } from '../policy/index.js';
import { type FileEntry, type Manifest, PAYLOAD_PREFIX, resolveInTree } from './manifest.js';
import { BundleRejection } from './rejection.js';
import { type ScanOptions, type VerifiedBundle, scanBundle } from './scan.js';

/** The kinds whose payload is read and validated before staging (small, and parsed by the daemon). */
export const CONTENT_KINDS: ReadonlySet<Manifest['kind']> = new Set(['config', 'policy', 'certs']);

const POLICY_FILE = /^[^./][^/]*\.ya?ml$/i;
const PEM_BLOCK = /^-----BEGIN ([A-Z0-9 ]+)-----\n[\s\S]*?\n-----END \1-----\n?/;

function refuse(check: string, message: string, detail: Record<string, unknown> = {}): never {
  throw new BundleRejection('WAVEOS_E_BUNDLE_CONTENT', check, message, detail);
}

/** The first located problem of a validator's error, as `file:line:column: message` (and how many more). */
function located(e: unknown): { text: string; problem?: InputProblem } {
  const problems = isWaveosError(e) ? e.problems : [];
  const first = problems[0];
  if (!first) return { text: errorMessage(e) };
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : '';
  return { text: `${formatProblem(first)}${more}`, problem: first };
}

/**
 * A policy bundle carries policy files and nothing else: regular `*.yaml`/`*.yml` files at the top of the
 * payload (where the policy runtime reads them), each valid as the daemon validates policies, and valid
 * together. A `waveos.yaml` is a config file, not a policy, and is refused by name.
 */
function validatePolicy(payload: string, m: Manifest, beside: readonly string[]): void {
  const parsed: ParsedPolicyFile[] = [];
  for (const f of m.files) {
    const where = `${PAYLOAD_PREFIX}${f.path}`;
    if (f.path === 'waveos.yaml') refuse('content.policy', `${where} is a WaveOS config file; a policy bundle carries only policy files (ship config in a config bundle)`, { path: f.path });
    if (f.type !== 'file' || !POLICY_FILE.test(f.path)) {
      refuse('content.policy', `${where} (${f.type}) is not a policy file; a policy bundle carries only regular *.yaml / *.yml files at the top of payload/`, { path: f.path });
    }
    try {
      parsed.push(parsePolicyText(readFileSync(join(payload, f.path), 'utf8'), where));
    } catch (e) {
      const l = located(e);
      refuse('content.policy', `${where} is not a valid policy: ${l.text}`, { path: f.path, line: l.problem?.line ?? null });
    }
  }
  try {
    buildPolicySet(parsed);
  } catch (e) {
    const l = located(e);
    refuse('content.policy', `the policy files of the bundle do not go together: ${l.text}`, { line: l.problem?.line ?? null });
  }
  checkBeside(parsed, beside);
}

/** The policy files of a folder the runtime reads: regular `*.yaml`/`*.yml` files only (never a FIFO). */
function policyFilesIn(dir: string): string[] {
  let names: Dirent[];
  try {
    names = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return names.filter((d) => d.isFile() && POLICY_FILE.test(d.name)).map((d) => join(dir, d.name)).sort();
}

/**
 * The bundle's files must also go together with the policy already in force beside them (`beside`: the
 * folders the runtime merges, in its order; a later file of the same name wins, so the bundle's come last).
 * Only when those files are valid on their own: a broken local file is the runtime's to report, and must not
 * block a bundle that may be what repairs it.
 */
function checkBeside(bundle: ParsedPolicyFile[], beside: readonly string[]): void {
  if (beside.length === 0) return;
  const byName = new Map<string, ParsedPolicyFile>();
  try {
    for (const d of beside) for (const f of policyFilesIn(d)) {
      const p = parsePolicyText(readFileSync(f, 'utf8'), f);
      byName.set(p.name, p);
    }
    buildPolicySet([...byName.values()]);
  } catch {
    return;
  }
  for (const p of bundle) byName.set(p.name, p);
  try {
    buildPolicySet([...byName.values()]);
  } catch (e) {
    const l = located(e);
    refuse('content.policy', `the bundle's policy files conflict with the policy in force beside them: ${l.text}`, { line: l.problem?.line ?? null });
  }
}

function validateConfig(payload: string, m: Manifest): void {
  const extra = m.files.find((f) => f.path !== 'waveos.yaml');
  if (extra) refuse('content.config', `${PAYLOAD_PREFIX}${extra.path} is not part of a config bundle; it carries payload/waveos.yaml only`, { path: extra.path });
  const entry = m.files.find((f) => f.path === 'waveos.yaml');
  if (entry?.type !== 'file') refuse('content.config', 'a config bundle must carry payload/waveos.yaml as a regular file');
  try {
    parseConfigText(readFileSync(join(payload, 'waveos.yaml'), 'utf8'), 'payload/waveos.yaml');
  } catch (e) {
    const l = located(e);
    refuse('content.config', `payload/waveos.yaml fails the config schema: ${l.text}`, { line: l.problem?.line ?? null });
  }
}

/** Certificates and keys: every file is PEM — one or more BEGIN/END blocks with matching labels, nothing else. */
function validateCerts(payload: string, m: Manifest): void {
  for (const f of m.files) {
    if (f.type === 'dir') continue;
    const where = `${PAYLOAD_PREFIX}${f.path}`;
    if (f.type !== 'file') refuse('content.certs', `${where} is a ${f.type}; a certs bundle carries regular PEM files and folders only`, { path: f.path });
    let text = readFileSync(join(payload, f.path), 'latin1').replace(/\r\n/g, '\n');
    let blocks = 0;
    while (text.trim().length > 0) {
      text = text.replace(/^\s+/, '');
      const b = PEM_BLOCK.exec(text);
      if (!b) refuse('content.certs', `${where} is not PEM: ${blocks === 0 ? 'it does not start with a -----BEGIN …----- line' : `after block ${blocks} comes something that is not a PEM block`} (or an END line is missing or does not match)`, { path: f.path });
      blocks++;
      text = text.slice(b[0].length);
    }
    if (blocks === 0) refuse('content.certs', `${where} is empty; a certs bundle file holds at least one PEM block`, { path: f.path });
  }
}

/** An app's `app.run` program, when it names a path in the payload, must be a listed executable file. */
function validateApp(m: Manifest): void {
  const tree = new Map<string, FileEntry>(m.files.map((f) => [f.path, f]));
  for (const [field, argv] of [['run', m.app?.run], ['health', m.app?.health]] as const) {
    const prog = argv?.[0];
    if (!prog || !prog.includes('/') || prog.startsWith('/')) continue; // a command found on PATH or an absolute one
    const r = resolveInTree(tree, prog.replace(/^\.\//, ''));
    const e = r.ok ? r.entry : undefined;
    if (e?.type !== 'file') refuse('content.app', `app.${field} names ${prog}, which is not a regular file in the payload${r.ok ? '' : ` (it ${r.why})`}`, { field, program: prog });
    if ((e.mode & 0o111) === 0) refuse('content.app', `app.${field} names ${prog}, which is not executable (mode 0${e.mode.toString(8)})`, { field, program: prog });
  }
}

/**
 * What each kind's payload must be, checked before the bundle is accepted. `payload` is an extracted copy
 * (verified against the manifest) for the kinds in CONTENT_KINDS; app bundles are checked from the manifest.
 */
export function validateContent(m: Manifest, payload: string | undefined, policyBeside: readonly string[] = []): void {
  if (m.app && m.kind !== 'app') refuse('content.app', `a ${m.kind} bundle cannot declare app (run/health belong to app bundles)`);
  if (m.kind === 'app') return validateApp(m);
  if (!payload) return;
  if (m.kind === 'policy') validatePolicy(payload, m, policyBeside);
  else if (m.kind === 'config') validateConfig(payload, m);
  else if (m.kind === 'certs') validateCerts(payload, m);
}

/**
 * The verify stage: the streaming scan, then the kind's content check. The kinds the daemon parses (config,
 * policy, certs) are extracted into `scratch` for it — verified byte by byte and resolved on the real
 * filesystem as a slot would be — and `scratch` is removed again whatever happens.
 */
export async function verifyBundle(o: Omit<ScanOptions, 'extractTo' | 'strictModes'>, scratch: string, policyBeside: (m: Manifest) => string[] = () => []): Promise<VerifiedBundle> {
  const head = await scanBundle(o);
  if (!CONTENT_KINDS.has(head.manifest.kind)) {
    validateContent(head.manifest, undefined);
    return head;
  }
  rmSync(scratch, { recursive: true, force: true });
  try {
    const v = await scanBundle({ ...o, extractTo: join(scratch, 'payload'), onExtracted: undefined });
    validateContent(v.manifest, join(scratch, 'payload'), policyBeside(v.manifest));
    return v;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
