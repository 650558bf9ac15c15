import { readFileSync, readdirSync } from 'node:fs';
import { groupAlive, killGroup, procStat } from './proc.js';

/** Set in every child's environment: names the root whose supervisor started it. */
export const SUPERVISOR_ROOT_ENV = 'WAVEOS_SUPERVISOR_ROOT';

/** What the journal keeps about each running child, so the next start can find it after a crash. */
export interface ChildRecord {
  pid: number;
  /** /proc/<pid>/stat field 22: with the pid, names one process for good (pids are reused). */
  start_time: string;
  run_id: string;
  started_at: string;
}

export interface ReapResult {
  name: string;
  pid: number;
  /** alive: the recorded leader still ran; group-only: the leader was gone but its group was not; gone: nothing left; reused: the pid now belongs to another process. */
  found: 'alive' | 'group-only' | 'gone' | 'reused';
  stopped: boolean;
  escalated: boolean;
  waited_ms: number;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits until the group has no members left, up to `ms`; true when it emptied. */
export async function waitGroupGone(pgid: number, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (groupAlive(pgid)) {
    if (performance.now() >= end) return false;
    await sleep(20);
  }
  return true;
}

/**
 * Stops what a previous run of the daemon left running. A leader whose pid now carries another start time
 * was replaced by an unrelated process (and its old group cannot exist: the kernel does not hand out a pid
 * that is still a group id), so it is left alone. Each group gets SIGTERM, then SIGKILL after `timeoutMs`.
 */
export async function reapOrphans(records: Readonly<Record<string, ChildRecord>>, timeoutMs: number): Promise<ReapResult[]> {
  return Promise.all(
    Object.entries(records).map(async ([name, rec]): Promise<ReapResult> => {
      const st = procStat(rec.pid);
      let found: ReapResult['found'];
      if (st && st.startTime === rec.start_time) found = 'alive';
      else if (st) found = 'reused';
      else found = groupAlive(rec.pid) ? 'group-only' : 'gone';
      if (found === 'reused' || found === 'gone') return { name, pid: rec.pid, found, stopped: false, escalated: false, waited_ms: 0 };
      const t0 = performance.now();
      killGroup(rec.pid, 'SIGTERM');
      let escalated = false;
      if (!(await waitGroupGone(rec.pid, timeoutMs))) {
        escalated = true;
        killGroup(rec.pid, 'SIGKILL');
        await waitGroupGone(rec.pid, 2_000);
      }
      return { name, pid: rec.pid, found, stopped: true, escalated, waited_ms: Math.round(performance.now() - t0) };
    }),
  );
}

/**
 * Group leaders that a supervisor of `root` started but whose record never reached the journal: a daemon
 * killed between spawning a child and committing its record leaves one behind, and only its environment
 * says whose it is.
 */
export function unrecordedChildren(root: string, recorded: Readonly<Record<string, ChildRecord>>, procDir = '/proc'): Record<string, ChildRecord> {
  const out: Record<string, ChildRecord> = {};
  const known = new Set(Object.values(recorded).map((r) => r.pid));
  const mark = `${SUPERVISOR_ROOT_ENV}=${root}`;
  for (const d of readdirSync(procDir)) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === process.pid || known.has(pid)) continue;
    let env: string[];
    try {
      env = readFileSync(`${procDir}/${d}/environ`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!env.includes(mark)) continue;
    const st = procStat(pid);
    if (!st || st.pgrp !== pid || st.state === 'Z') continue;
    const svc = env.find((e) => e.startsWith('WAVEOS_SERVICE='))?.slice('WAVEOS_SERVICE='.length) ?? 'unknown';
    out[out[svc] || recorded[svc] ? `${svc}#${pid}` : svc] = { pid, start_time: st.startTime, run_id: '(unrecorded)', started_at: '' };
  }
  return out;
}
