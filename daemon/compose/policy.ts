import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { RejectedPolicyFile } from '../api/index.js';
import type { Config } from '../config/index.js';
import { INPUT_LIMITS, type InputProblem, type Paths, formatProblem, readInputFile, scanInputDir } from '../core/index.js';
import type { EvidenceService } from '../evidence/index.js';
import { PolicyRuntime, bundledPoliciesDir, decisionPerformer, policyWorld } from '../policy-runtime/index.js';
import { BREAKERS_KEY, type JournalReader, LAST_GOOD_KEY } from '../journal/index.js';
import { type ActionResult, type AnyActionRequest, recordedMode } from '../recovery/index.js';
import type { BootContext } from './open.js';

/** The payload folders of the installed policy bundles (`slots/policy/<name>/current/payload`). */
function policyBundleDirs(paths: Paths): string[] {
  const base = join(paths.slotsDir, 'policy');
  try {
    return readdirSync(base, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => join(base, d.name, 'current', 'payload'))
      .filter((d) => existsSync(d));
  } catch {
    return [];
  }
}

/** A policy folder and where it comes from: the evidence pack files each policy under its origin. */
export interface PolicyDir {
  dir: string;
  /** The folder's place in the pack under `config/policies/`: '' for policies.d, else `examples`, `extra/…`, `bundles/<name>`. */
  origin: string;
}

/**
 * Every policy folder in the order the runtime reads them (a later file of the same name wins): the repo's
 * examples (dev profile), `policy.extra_dirs`, etc/waveos/policies.d, then the installed policy bundles, so
 * a signed bundle's file wins over a local one of the same name.
 */
export function policyDirs(config: Config, paths: Paths): PolicyDir[] {
  const extra = config.policy.extra_dirs.map((d) => resolve(paths.root, d));
  return [
    ...(config.policy.examples ? [{ dir: bundledPoliciesDir(), origin: 'examples' }] : []),
    // The absolute folder, without its leading slash: the pack says exactly where the file was read.
    ...extra.map((dir) => ({ dir, origin: `extra/${dir.replace(/^\/+/, '')}` })),
    { dir: paths.policiesDir, origin: '' },
    ...policyBundleDirs(paths).map((dir) => ({ dir, origin: `bundles/${basename(resolve(dir, '../..'))}` })),
  ];
}

/** A policy file on disk, with the origin of the folder it was found in. */
export interface PolicyFileOnDisk {
  file: string;
  origin: string;
}

/** Every policy file in the folders (regular files only, as the runtime reads them), in the runtime's reading order. */
export function policyFilesOnDisk(dirs: readonly PolicyDir[]): PolicyFileOnDisk[] {
  return dirs.flatMap((d) => scanInputDir(d.dir, (n) => /\.ya?ml$/.test(n)).files.map((file) => ({ file, origin: d.origin })));
}

/**
 * The file on disk a journaled path names. The journal stores paths through the redactor, which may have
 * masked part of one (a secret-named variable whose value is a folder): the disk's paths, redacted alike, match.
 */
export function fileOnDisk(recorded: string, onDisk: readonly PolicyFileOnDisk[], redact: (text: string) => string): PolicyFileOnDisk | undefined {
  return onDisk.find((f) => f.file === recorded) ?? onDisk.find((f) => redact(f.file) === recorded);
}

/** The sha256 of a policy file's text, as the policy set records it; read within the policy file limit. */
function sha256Of(file: string): string | undefined {
  const r = readInputFile(file, INPUT_LIMITS.policyFile);
  return r.ok ? createHash('sha256').update(r.text).digest('hex') : undefined;
}

interface RefusedFile {
  file: string;
  problems: InputProblem[];
  kept: string | null;
}

/** The refused files a `policy.rejected` event names: per file (one bad file), or by the set's located problems. */
function refusedIn(data: Readonly<Record<string, unknown>>): RefusedFile[] {
  if (Array.isArray(data.files)) return data.files as RefusedFile[];
  const byFile = new Map<string, InputProblem[]>();
  for (const p of Array.isArray(data.problems) ? (data.problems as InputProblem[]) : []) {
    if (p.file) byFile.set(p.file, [...(byFile.get(p.file) ?? []), p]);
  }
  return [...byFile.entries()].map(([file, problems]) => ({ file, problems, kept: null }));
}

/**
 * The policy files on disk that are refused and not in force: those the last `policy.rejected` event named
 * whose bytes on disk are still not the bytes in force. A file fixed since (or removed) drops out at once,
 * without waiting for an event that says so.
 */
export function rejectedPolicyFiles(
  journal: Pick<JournalReader, 'lastEventOf'>,
  inForce: readonly { file: string; sha256: string }[],
  onDisk: readonly PolicyFileOnDisk[],
  redact: (text: string) => string,
): RejectedPolicyFile[] {
  const e = journal.lastEventOf('policy.rejected');
  if (!e) return [];
  const out: RejectedPolicyFile[] = [];
  for (const f of refusedIn(e.data)) {
    const file = fileOnDisk(f.file, onDisk, redact)?.file;
    const disk = file === undefined ? undefined : sha256Of(file);
    if (file === undefined || disk === undefined || inForce.some((p) => p.file === file && p.sha256 === disk)) continue;
    out.push({ file, reason: f.problems.map(formatProblem).join('; ') || e.reason, kept: f.kept ?? null, since: e.ts, seq: e.seq });
  }
  return out;
}

export interface PolicyUnitDeps {
  run(req: AnyActionRequest): Promise<ActionResult>;
  evidence: EvidenceService;
  /** The mode the device is in (the journal's record, which the mode action keeps). */
  mode(): string;
  onPolicyChange(version: string): void;
}

/** The policy runtime: it decides; every decision is journaled, then performed through the action executor. */
export function policyUnit(boot: BootContext, deps: PolicyUnitDeps): PolicyRuntime {
  const { config, paths, journal, clock } = boot;
  const log = boot.log.child({ module: 'policy' });
  const perform = decisionPerformer({
    journal,
    clock,
    log,
    run: (req) => deps.run(req),
    exportEvidence: (r) => deps.evidence.exportEvidence(r),
    mode: () => deps.mode(),
    observeEvent: (o) => policy.observeEvent(o),
  });
  const policy: PolicyRuntime = new PolicyRuntime({
    clock,
    log,
    dirs: () => policyDirs(config, paths).map((d) => d.dir),
    createDirs: [paths.policiesDir],
    tickIntervalMs: config.policy.tick_interval_ms,
    // The alerting module (compose/alerting.ts) sends what webhook actions decide, policy.webhook.url included.
    alertsRouted: config.alerting.enabled,
    emit: (e) => journal.append(e),
    execute: (d) => perform(d),
    lastGood: { read: () => journal.readState(LAST_GOOD_KEY), write: (p) => journal.writeState(LAST_GOOD_KEY, p) },
    breakers: { read: () => journal.readState(BREAKERS_KEY), write: (s) => journal.writeState(BREAKERS_KEY, s) },
    initialMode: recordedMode(journal, log),
    onPolicyChange: (set) => deps.onPolicyChange(set.version),
    world: policyWorld(config),
  });
  return policy;
}
