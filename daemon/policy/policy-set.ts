import { INPUT_LIMITS, type InputProblem, formatBytes } from '../core/index.js';
import { type ParsedPolicyFile, invalidPolicy } from './parse.js';
import { type PolicyWorld, referenceProblems } from './references.js';
import { actionLists } from './rule-actions.js';
import { type ModeSpec, REQUIRED_MODES, type RuleSpec } from './schema.js';

/** The effective policy: every file merged, cross-checked, frozen. */
export interface PolicySet {
  /** `name@version` of each file in name order, joined by commas; `none` when there are no files. */
  readonly version: string;
  readonly files: readonly { name: string; file: string; version: string; sha256: string }[];
  readonly modes: Readonly<Record<string, ModeSpec>>;
  readonly initialMode: string;
  readonly rules: readonly (RuleSpec & { source: string })[];
}

/** Used when no policy file defines modes: the three the product promises, every change allowed. */
export const BUILTIN_MODES: Readonly<Record<string, ModeSpec>> = {
  normal: { transitions: ['degraded', 'safe'], services: ['*'], feature_flags: {} },
  degraded: { transitions: ['normal', 'safe'], services: ['*'], feature_flags: {} },
  safe: { transitions: ['degraded', 'normal'], services: ['*'], feature_flags: {} },
};

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/**
 * Merges parsed files into the effective policy. Files are taken in name order; cross-file problems (a rule id
 * used twice, modes defined twice, a mode named but not defined) are located in the file that causes them.
 * With a `world`, a rule naming a service, metric or event kind the device does not have is a problem too.
 */
export function buildPolicySet(files: readonly ParsedPolicyFile[], world?: PolicyWorld): PolicySet {
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const problems: InputProblem[] = [];
  const byName = new Map<string, ParsedPolicyFile>();
  let total = 0;
  for (const f of sorted) {
    total += f.bytes;
    if (total > INPUT_LIMITS.policySet && total - f.bytes <= INPUT_LIMITS.policySet) {
      problems.push({ file: f.file, message: `the policy files together are over the limit of ${formatBytes(INPUT_LIMITS.policySet)} (this file brings them to ${total} bytes)` });
    }
    const prev = byName.get(f.name);
    if (prev) problems.push(f.locate([], `two policy files are both named "${f.name}" (${prev.file} and ${f.file}); rename one`));
    byName.set(f.name, f);
  }
  const modeFiles = sorted.filter((f) => f.spec.modes !== undefined);
  for (const f of modeFiles.slice(1)) {
    problems.push(f.locate([], `modes are already defined in ${modeFiles[0]?.file}; only one policy file may define the mode graph`, 'modes'));
  }
  const modeFile = modeFiles[0];
  const modes = modeFile?.spec.modes ?? BUILTIN_MODES;
  if (modeFile) {
    for (const m of REQUIRED_MODES) {
      if (!(m in modes)) problems.push(modeFile.locate([], `mode "${m}" is missing (every policy defines at least ${REQUIRED_MODES.join(', ')})`, 'modes'));
    }
    for (const [name, spec] of Object.entries(modes)) {
      spec.transitions.forEach((t, i) => {
        if (!(t in modes)) problems.push(modeFile.locate(['modes', name, 'transitions', i], `mode "${t}" is not defined (defined: ${Object.keys(modes).join(', ')})`));
      });
    }
  }
  const initialFiles = sorted.filter((f) => f.spec.initial_mode !== undefined);
  for (const f of initialFiles.slice(1)) problems.push(f.locate(['initial_mode'], `initial_mode is already set in ${initialFiles[0]?.file}`));
  const initialMode = initialFiles[0]?.spec.initial_mode ?? 'normal';
  if (initialFiles[0] && !(initialMode in modes)) problems.push(initialFiles[0].locate(['initial_mode'], `mode "${initialMode}" is not defined`));

  const checkMode = (f: ParsedPolicyFile, path: PropertyKey[], mode: string): void => {
    if (!(mode in modes)) problems.push(f.locate(path, `mode "${mode}" is not defined (defined: ${Object.keys(modes).join(', ')})`));
  };
  const ruleOwner = new Map<string, string>();
  const rules: (RuleSpec & { source: string })[] = [];
  for (const f of sorted) {
    if (f.spec.modes) {
      for (const [name, spec] of Object.entries(f.spec.modes)) {
        for (const key of ['on_enter', 'on_exit'] as const) {
          spec[key]?.forEach((a, i) => {
            if (a.type === 'set_mode') problems.push(f.locate(['modes', name, key, i], 'a mode entry or exit action cannot change the mode again'));
          });
        }
      }
    }
    f.spec.rules.forEach((r, i) => {
      const owner = ruleOwner.get(r.id);
      if (owner !== undefined) problems.push(f.locate(['rules', i, 'id'], `rule id "${r.id}" is already used in ${owner}`));
      ruleOwner.set(r.id, f.file);
      r.modes?.forEach((m, j) => checkMode(f, ['rules', i, 'modes', j], m));
      if (r.kind === 'breaker' && r.mode !== undefined) checkMode(f, ['rules', i, 'mode'], r.mode);
      for (const [key, list] of actionLists(r)) {
        list?.forEach((a, j) => {
          if (a.type === 'set_mode') checkMode(f, ['rules', i, key, j, 'mode'], a.mode);
        });
      }
      rules.push({ ...r, source: f.name });
    });
  }
  if (world) problems.push(...referenceProblems(sorted, world));
  if (problems.length > 0) throw invalidPolicy(problems[0]?.file ?? 'policy', problems);
  return deepFreeze({
    version: sorted.length === 0 ? 'none' : sorted.map((f) => `${f.name}@${f.spec.policy_version}`).join(','),
    files: sorted.map((f) => ({ name: f.name, file: f.file, version: f.spec.policy_version, sha256: f.sha256 })),
    modes,
    initialMode,
    rules,
  });
}

/** The empty policy: built-in modes, no rules. In force until a valid policy is loaded. */
export function emptyPolicySet(): PolicySet {
  return buildPolicySet([]);
}
