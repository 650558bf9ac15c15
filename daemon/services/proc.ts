import { readFileSync, readdirSync } from 'node:fs';
import { processStartTime } from '../core/index.js';

/** pgrp and start time of a process from /proc/<pid>/stat, or undefined when it is gone. */
export function procStat(pid: number): { pgrp: number; startTime: string; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgrp = Number(rest[2]);
    const startTime = rest[19];
    if (!Number.isInteger(pgrp) || startTime === undefined) return undefined;
    return { pgrp, startTime, state: rest[0] ?? '?' };
  } catch {
    return undefined;
  }
}

/** Every process in process group `pgid` that is not a zombie waiting for its reaper. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const pid = Number(n);
    const st = procStat(pid);
    if (st?.pgrp === pgid && st.state !== 'Z' && st.state !== 'X') out.push(pid);
  }
  return out;
}

/**
 * Whether a process group still has running members. kill(-pgid, 0) is the cheap first answer; zombies
 * also answer it (when no reaper runs as pid 1), so a positive answer is confirmed by a /proc scan.
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return groupMembers(pgid).length > 0;
}

export function killGroup(pgid: number, signal: NodeJS.Signals | number): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

export { processStartTime };

/** Resolves a user or group name through /etc/passwd or /etc/group (Node has no getpwnam). */
export function resolveId(kind: 'user' | 'group', v: string | number): number | undefined {
  if (typeof v === 'number') return v;
  if (/^\d+$/.test(v)) return Number(v);
  try {
    const text = readFileSync(kind === 'user' ? '/etc/passwd' : '/etc/group', 'utf8');
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f[0] === v && f[2] !== undefined) return Number(f[2]);
    }
  } catch {
    // no database: unresolved
  }
  return undefined;
}

/**
 * The primary group of a user (by name or uid) from /etc/passwd. A service given a `user` and no `group` runs
 * in that group: spawning with a uid alone would keep the daemon's gid (root's, when the daemon is root).
 */
export function primaryGroupOf(user: string | number): number | undefined {
  const byUid = typeof user === 'number' || /^\d+$/.test(user);
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if ((byUid ? f[2] === String(user) : f[0] === user) && f[3] !== undefined && /^\d+$/.test(f[3])) return Number(f[3]);
    }
  } catch {
    // no database: unresolved
  }
  return undefined;
}

const PAGE = 4096;
const TICKS = 100;

/** Resident memory and CPU time (user + system) of one process, from /proc; undefined once it is gone. */
export function procUsage(pid: number): { rss_bytes: number; cpu_s: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpu = (Number(rest[11]) + Number(rest[12])) / TICKS;
    const rss = Number(rest[21]) * PAGE;
    return Number.isFinite(cpu) && Number.isFinite(rss) ? { rss_bytes: rss, cpu_s: Math.round(cpu * 100) / 100 } : undefined;
  } catch {
    return undefined;
  }
}
