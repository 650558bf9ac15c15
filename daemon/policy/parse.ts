import { createHash } from 'node:crypto';
import { basename, extname } from 'node:path';
import type { z } from 'zod';
import { INPUT_LIMITS, type InputProblem, type Locate, WaveosError, formatBytes, parseLocatedYaml } from '../core/index.js';
import { type PolicyFile, policyFileSchema } from './schema.js';

/** One validated policy file, with a way to point back into it for problems found later (cross-file checks). */
export interface ParsedPolicyFile {
  /** The file name without directory and extension: the name it is known by in the effective version. */
  name: string;
  file: string;
  /** sha256 of the text: a change without a version bump is still a change. */
  sha256: string;
  /** The text's size in bytes: the set's total is limited too. */
  bytes: number;
  spec: PolicyFile;
  locate: Locate;
}

export function policyName(file: string): string {
  return basename(file, extname(file));
}

function zodProblems(locate: Locate, error: z.ZodError): InputProblem[] {
  const out: InputProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const allowed = issue.path.length === 0 ? ` (expected one of: ${Object.keys(policyFileSchema.shape).join(', ')})` : '';
        out.push(locate(issue.path, `unknown key "${key}"${allowed}`, key));
      }
    } else if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
      const d = (issue as { discriminator?: string }).discriminator ?? 'kind';
      out.push(locate(issue.path, `${issue.message} (check "${d}")`));
    } else {
      out.push(locate(issue.path, issue.message));
    }
  }
  return out;
}

export function invalidPolicy(file: string, problems: InputProblem[]): WaveosError {
  const n = problems.length;
  return new WaveosError('WAVEOS_E_POLICY_INVALID', `${file}: ${n} problem${n === 1 ? '' : 's'} in the policy`, { problems });
}

/** Parses and validates one policy file's text; every problem is located by file, line, column and key path. */
export function parsePolicyText(text: string, file: string): ParsedPolicyFile {
  const bytes = Buffer.byteLength(text);
  // Checked before the parser sees a byte: a parse costs a large multiple of the text in memory.
  if (bytes > INPUT_LIMITS.policyFile) {
    throw invalidPolicy(file, [{ file, message: `the policy file is ${bytes} bytes, over the limit of ${formatBytes(INPUT_LIMITS.policyFile)} for one policy file` }]);
  }
  const { value: raw, locate } = parseLocatedYaml(text, file, 'WAVEOS_E_POLICY_SYNTAX');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalidPolicy(file, [{ file, line: 1, column: 1, message: 'expected a mapping with policy_version and rules at the top level' }]);
  }
  if ((raw as Record<string, unknown>).policy_version === undefined) {
    throw invalidPolicy(file, [locate([], 'policy_version is missing (expected e.g. policy_version: "1")')]);
  }
  const result = policyFileSchema.safeParse(raw);
  if (!result.success) throw invalidPolicy(file, zodProblems(locate, result.error));
  const spec = result.data;
  // Checks inside one file that the schema cannot express.
  const problems: InputProblem[] = [];
  const seen = new Map<string, number>();
  spec.rules.forEach((r, i) => {
    const first = seen.get(r.id);
    if (first !== undefined) problems.push(locate(['rules', i, 'id'], `rule id "${r.id}" is used twice in this file (first at rules.${first})`));
    else seen.set(r.id, i);
    if (r.kind === 'breaker' && r.mode === undefined && r.actions === undefined) {
      problems.push(locate(['rules', i], 'a breaker needs a mode to enter or actions to take when it opens'));
    }
    if ((r.kind === 'threshold' || r.kind === 'budget') && r.repeat && !r.cooldown) {
      problems.push(locate(['rules', i, 'repeat'], 'repeat needs a cooldown (how often to fire again while the condition holds)'));
    }
  });
  if (problems.length > 0) throw invalidPolicy(file, problems);
  return {
    name: policyName(file),
    file,
    sha256: createHash('sha256').update(text).digest('hex'),
    bytes,
    spec,
    locate,
  };
}
