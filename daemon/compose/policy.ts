import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Paths } from '../core/index.js';
import type { EvidenceService } from '../evidence/index.js';
import { PolicyRuntime, bundledPoliciesDir, decisionPerformer, policyWorld } from '../policy-runtime/index.js';
import { BREAKERS_KEY, LAST_GOOD_KEY } from '../journal/index.js';
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
    // Installed policy bundles come after the folders, so a signed bundle's file wins over a local one of the same name.
    dirs: () => [...(config.policy.examples ? [bundledPoliciesDir()] : []), ...config.policy.extra_dirs.map((d) => resolve(paths.root, d)), paths.policiesDir, ...policyBundleDirs(paths)],
    createDirs: [paths.policiesDir],
    tickIntervalMs: config.policy.tick_interval_ms,
    webhook: config.policy.webhook,
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
