import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { WaveosError, errorMessage } from '../core/index.js';
import type { CapParams } from './actions.js';
import type { ActionOutcome } from './executor.js';

/** Members of a process group (the service and whatever it forked), found by their pgid in /proc. */
function groupMembers(pgid: number, procDir = '/proc'): number[] {
  const out: number[] = [];
  for (const name of readdirSync(procDir)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`${procDir}/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * A priority cap on one service: niceness is applied to every process of its group. I/O class and cgroup
 * CPU limits need a cgroup WaveOS may write, which this build does not manage: the outcome says so rather
 * than pretend (`not_applied`).
 */
export function applyCap(services: readonly { name: string; pid: number | null }[], p: CapParams): ActionOutcome {
  const name = p.service;
  const svc = services.find((s) => s.name === name);
  if (!svc) throw new WaveosError('WAVEOS_E_NOT_FOUND', `service.cap: no service named "${name}"`);
  if (svc.pid === null) throw new WaveosError('WAVEOS_E_RUNTIME', `service.cap: ${name} is not running`);
  const applied: Record<string, unknown> = {};
  const notApplied: string[] = [];
  const nice = p.reset === true ? 0 : typeof p.nice === 'number' ? p.nice : undefined;
  if (nice !== undefined) {
    const members = groupMembers(svc.pid);
    const failed: string[] = [];
    for (const pid of members) {
      try {
        setPriority(pid, nice);
      } catch (e) {
        failed.push(`${pid}: ${errorMessage(e)}`);
      }
    }
    applied.nice = nice;
    applied.processes = members.length;
    if (failed.length) notApplied.push(`nice on ${failed.length} process(es) (${failed[0]})`);
  }
  for (const k of ['ionice', 'cpu_weight', 'cpu_max'] as const) if (p[k] !== undefined) notApplied.push(`${k} (needs a cgroup v2 WaveOS may write; not managed on this system)`);
  const parts = [nice !== undefined ? `nice ${nice} on ${String(applied.processes)} process(es) of ${name}` : undefined, notApplied.length ? `not applied: ${notApplied.join('; ')}` : undefined].filter(Boolean);
  return { reason: parts.join('; ') || `nothing to apply to ${name}`, data: { service: name, applied, not_applied: notApplied } };
}
