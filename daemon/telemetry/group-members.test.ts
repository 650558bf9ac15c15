import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupMembers, processGroupMembers } from './collectors.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'group-members-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A /proc entry: stat with its group and CPU ticks, status with its RSS, and its main thread's children. */
function proc(pid: number, pgrp: number, ticks: number, children: number[] = []): void {
  mkdirSync(join(dir, String(pid), 'task', String(pid)), { recursive: true });
  const fields = ['S', '1', String(pgrp), ...Array(8).fill('0'), String(ticks), '0', ...Array(9).fill('0')];
  writeFileSync(join(dir, String(pid), 'stat'), `${pid} (svc ${pid}) ${fields.join(' ')}\n`);
  writeFileSync(join(dir, String(pid), 'status'), `Name:\tsvc\nVmRSS:\t  ${pid} kB\n`);
  writeFileSync(join(dir, String(pid), 'task', String(pid), 'children'), children.map((c) => `${c} `).join(''));
}

const pids = (m: Map<number, { pid: number }[]>, g: number): number[] => (m.get(g) ?? []).map((x) => x.pid).sort((a, b) => a - b);

describe('GroupMembers', () => {
  it('finds forks through the children files between full scans, and re-parented members at the next full scan', () => {
    proc(100, 100, 5, [101]);
    proc(101, 100, 7);
    proc(200, 100, 1); // in the group, but its parent is gone: only a full scan finds it
    proc(300, 300, 9); // another group
    const g = new GroupMembers(dir, 3);
    const first = g.members(new Set([100]));
    expect(pids(first, 100)).toEqual([100, 101, 200]);
    expect(first.get(100)?.find((m) => m.pid === 101)).toEqual({ pid: 101, ticks: 7, rssBytes: 101 * 1024 });
    // 101 forks 102; another process joins the group with no known parent; 200 exits.
    proc(101, 100, 8, [102]);
    proc(102, 100, 2);
    proc(201, 100, 3);
    rmSync(join(dir, '200'), { recursive: true });
    const second = g.members(new Set([100]));
    expect(pids(second, 100)).toEqual([100, 101, 102]);
    expect(second.get(100)?.find((m) => m.pid === 101)?.ticks).toBe(8);
    expect(pids(g.members(new Set([100])), 100)).toEqual([100, 101, 102]);
    // The third pass after a full one scans everything again.
    expect(pids(g.members(new Set([100])), 100)).toEqual([100, 101, 102, 201]);
    // A new group (a restarted service) is scanned for at once.
    proc(400, 400, 1);
    proc(401, 400, 1);
    expect(pids(g.members(new Set([100, 400])), 400)).toEqual([400, 401]);
  });

  it('agrees with a full scan of the real /proc for a process group with a forked child', async () => {
    const leader = spawn('sh', ['-c', 'sleep 30 & wait'], { detached: true, stdio: 'ignore' });
    try {
      const pgid = leader.pid as number;
      const want = await new Promise<number[]>((resolve, reject) => {
        const t0 = Date.now();
        const poll = (): void => {
          const found = pids(processGroupMembers('/proc', new Set([pgid])), pgid);
          if (found.length >= 2) resolve(found);
          else if (Date.now() - t0 > 10_000) reject(new Error(`the group has ${found.length} members`));
          else setTimeout(poll, 20);
        };
        poll();
      });
      const g = new GroupMembers('/proc', 100);
      expect(pids(g.members(new Set([pgid])), pgid)).toEqual(want);
      // Not a full scan: the sleep is found as the shell's child.
      expect(pids(g.members(new Set([pgid])), pgid)).toEqual(want);
    } finally {
      process.kill(-(leader.pid as number), 'SIGKILL');
    }
  });
});
