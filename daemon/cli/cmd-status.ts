import { apiCall } from '../api/client.js';
import { type Output, clientOptions, parseFlags, rootPaths } from './context.js';
import { checkResponse } from './api-errors.js';
import { type Paint, colourOn, paintState, painter } from './colour.js';
import type { ModeReason, RejectedPolicyFile, StatusBundle } from '../api/status-document.js';

const USAGE = 'waveos status [--json] [--root DIR]';

interface StatusDoc {
  run_id: string;
  device_id: string;
  mode: string;
  health_score: number | null;
  health?: { score: number; deductions: { input: string; points: number; why: string }[]; notes?: string[] };
  uptime_s: number;
  mode_reason?: ModeReason | null;
  policy_rejected?: RejectedPolicyFile[];
  versions: { waveos: string; policy: string | null; bundles_by_name?: Record<string, StatusBundle> };
  previous_run: { ended: string; reset_reason: string } | null;
  root: string;
  journal?: { last_seq: number; disk_full?: { since_ms: number; held_events: number } | null; read_only?: { since_ms: number; held_events: number; error: string } | null };
  services: { name: string; state: string }[];
  chaos?: { seed: number; injected: Record<string, number> };
}

/** Who moved the device into its mode, and when: a rule, an operator's token, or the recovery ladder. */
function modeLine(paint: Paint, modeName: string, r: ModeReason | null | undefined): string {
  const mode = paintState(paint, modeName);
  if (!r) return `${mode}  (no mode change recorded: the policy's initial mode)`;
  const ruleDetail = r.rule ? [r.rule.kind, r.rule.policy ? `policy ${r.rule.policy}` : null].filter(Boolean).join(', ') : '';
  const who = r.rule ? `rule ${r.rule.id}${ruleDetail ? ` (${ruleDetail})` : ''}` : r.operator ? `operator token ${r.operator}` : r.by;
  return `${mode}  (set by ${who} at ${r.since}${r.from ? `, from ${r.from}` : ''}: ${r.reason})`;
}

function bundleLines(b: Record<string, StatusBundle> | undefined): string[] {
  const list = Object.values(b ?? {});
  if (list.length === 0) return [];
  return [`bundles     ${list.map((x) => `${x.kind}/${x.name} ${x.version ?? x.bundle_id.slice(0, 12)} (${x.state})`).join(', ')}`];
}

function rejectedLines(paint: Paint, files: RejectedPolicyFile[] | undefined): string[] {
  return (files ?? []).map(
    (f) => `${paint('red', 'REJECTED')}    policy file ${f.file} is not in force${f.kept ? ` (its last good version ${f.kept} is)` : ''}: ${f.reason}`,
  );
}

export async function statusCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseFlags(argv, {}, USAGE);
  const paths = rootPaths(values.root);
  const body = checkResponse(await apiCall(clientOptions(paths, values['token-file']), 'GET', '/v1/status')) as StatusDoc;
  if (values.json) {
    io.out(JSON.stringify(body));
    return 0;
  }
  const paint = painter(colourOn(argv));
  const prev = body.previous_run ? `${body.previous_run.ended} (${body.previous_run.reset_reason})` : 'none recorded';
  io.out(
    [
      `device      ${body.device_id}`,
      `run         ${body.run_id}, up ${body.uptime_s} s`,
      `mode        ${modeLine(paint, body.mode, body.mode_reason)}`,
      `health      ${body.health_score ?? 'not computed yet'}${body.health?.deductions.length ? `  (${body.health.deductions.map((d) => `-${d.points} ${d.input}: ${d.why}`).join('; ')})` : ''}${body.health?.notes?.length ? `; ${body.health.notes.join('; ')}` : ''}`,
      `waveos      ${body.versions.waveos}${body.versions.policy ? `, policy ${body.versions.policy}` : ''}`,
      ...bundleLines(body.versions.bundles_by_name),
      ...rejectedLines(paint, body.policy_rejected),
      `previous    ${prev}`,
      `services    ${body.services.length === 0 ? 'none supervised' : body.services.map((s) => `${s.name}:${paintState(paint, s.state)}`).join(' ')}`,
      `journal     last seq ${body.journal?.last_seq ?? '?'}${body.journal?.disk_full ? `  ${paint('red', 'DISK FULL')} since ${new Date(body.journal.disk_full.since_ms).toISOString()}, ${body.journal.disk_full.held_events} events waiting in memory` : ''}${body.journal?.read_only ? `  ${paint('red', 'READ-ONLY')} since ${new Date(body.journal.read_only.since_ms).toISOString()}, ${body.journal.read_only.held_events} events waiting in memory (${body.journal.read_only.error})` : ''}`,
      `root        ${body.root}`,
      ...(body.chaos ? [`chaos       ON (seed ${body.chaos.seed}): ${Object.entries(body.chaos.injected).map(([k, n]) => `${k} ${n}`).join(', ') || 'nothing injected yet'}`] : []),
    ].join('\n'),
  );
  return 0;
}
