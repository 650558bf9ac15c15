import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { slotViolations } from '../hil-sim/bundles.js';
import { auditStrace, parseStrace } from '../hil-sim/fsync-audit.js';
import { checkArtifacts, csvFields, instanceViolations, snapshotSpool, spoolViolations } from '../hil-sim/invariants.js';
import { Prng, slope } from '../hil-sim/prng.js';

const R = '/r';
const good = [
  `100  03:00:00.000001 openat(AT_FDCWD</w>, "/r/run/.waveos.pid.tmp-100", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644) = 18</r/run/.waveos.pid.tmp-100>`,
  `100  03:00:00.000002 write(18</r/run/.waveos.pid.tmp-100>, "{}", 2) = 2`,
  `100  03:00:00.000003 fsync(18</r/run/.waveos.pid.tmp-100> <unfinished ...>`,
  `101  03:00:00.000003 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, exit_signal=0}, 88) = 102`,
  `100  03:00:00.000004 <... fsync resumed>) = 0`,
  `100  03:00:00.000005 rename("/r/run/.waveos.pid.tmp-100", "/r/run/waveos.pid") = 0`,
  `100  03:00:00.000006 fsync(19</r/run>) = 0`,
  `100  03:00:00.000007 pwrite64(20</r/db.db-wal>, "x", 1, 0) = 1`,
  `100  03:00:00.000008 fdatasync(20</r/db.db-wal>) = 0`,
  `100  03:00:00.000009 writev(21<UNIX-STREAM:[1->2,"/r/run/waveos.sock"]>, [{iov_base="HTTP/1.1 200 OK\\r\\n\\r\\n{\\"intent_id\\":3}", iov_len=30}], 1) = 30`,
];

describe('fsync audit', () => {
  it('joins unfinished calls and passes a trace that syncs the file, the directory and the WAL', () => {
    expect(parseStrace(good.join('\n')).map((c) => c.name)).toEqual(['openat', 'write', 'clone3', 'fsync', 'rename', 'fsync', 'pwrite64', 'fdatasync', 'writev']);
    const a = auditStrace(good.join('\n'), R);
    expect(a.violations).toEqual([]);
    expect(a.renames).toEqual([{ target: '/run/waveos.pid', checked: true, fileFsync: true, dirFsync: true }]);
    expect(a.acks).toHaveLength(1);
  });

  it('finds a rename without the file fsync, one without the directory fsync, and an ack before the WAL fsync', () => {
    const bad = good.filter((l) => !l.includes('fsync(18') && !l.includes('fsync resumed') && !l.includes('fsync(19') && !l.includes('fdatasync'));
    const a = auditStrace(bad.join('\n'), R);
    expect(a.violations).toHaveLength(3);
    expect(a.violations.join('\n')).toMatch(/without an fsync of .waveos.pid.tmp-100/);
    expect(a.violations.join('\n')).toMatch(/without an fsync of \/run after/);
    expect(a.violations.join('\n')).toMatch(/1 WAL writes not yet fsynced/);
  });

  it('ignores the syscalls of child processes (services), not of the daemon threads', () => {
    const child = [
      good[0],
      `100  03:00:00.000001 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD) = 200`,
      `200  03:00:00.000002 rename("/r/run/.x.tmp", "/r/run/latest") = 0`,
    ];
    expect(auditStrace(child.join('\n'), R).renames).toEqual([]);
  });
});

describe('invariant helpers', () => {
  it('parses CSV rows with quoted labels and refuses an unbalanced quote', () => {
    expect(csvFields('2026-01-01T00:00:00Z,cpu,1.5,ratio,"{""a"":""b,c""}"')).toEqual(['2026-01-01T00:00:00Z', 'cpu', '1.5', 'ratio', '{"a":"b,c"}']);
    expect(csvFields('1,cpu,1,ratio,"{""a')).toBeUndefined();
  });

  it('counts two live copies of a service, and a stray the supervisor does not run', () => {
    const p = (pid: number, service: string): { pid: number; service: string; daemon: boolean } => ({ pid, service, daemon: false });
    expect(instanceViolations([p(1, 'a'), p(2, 'a')], [p(1, 'a'), p(2, 'a')], [{ name: 'a', pid: 2 }])).toEqual(['2 instances of a (pids 1, 2)']);
    expect(instanceViolations([p(5, 'b')], [p(5, 'b')], [{ name: 'b', pid: 6 }])).toEqual(['b runs as pid 5 but the supervisor runs pid 6']);
    // A restart between the two scans is not a stray.
    expect(instanceViolations([p(5, 'b')], [p(6, 'b')], [{ name: 'b', pid: 6 }])).toEqual([]);
  });

  it('replays the same draws for the same seed, and fits a slope', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    expect(Array.from({ length: 5 }, () => a.int(0, 1000))).toEqual(Array.from({ length: 5 }, () => b.int(0, 1000)));
    expect(new Prng(43).int(0, 1e9)).not.toBe(new Prng(42).int(0, 1e9));
    expect(slope([[0, 1], [1, 3], [2, 5]])).toBeCloseTo(2);
  });
});

describe('spool and slot invariants', () => {
  it('keeps a spool mark through rotation and compression, and finds lost lines and a missing middle segment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'waveos-spool-inv-'));
    try {
      const src = join(dir, 'flooder');
      mkdirSync(src);
      writeFileSync(join(src, '00000001.log'), 'a\n');
      writeFileSync(join(src, '00000002.log'), 'b\n');
      writeFileSync(join(src, 'current.log'), 'line 1\nline 2\npartial');
      const mark = snapshotSpool(dir);
      expect(mark.get('flooder')?.currentBytes).toBe(14);
      // Appended to, and the torn tail trimmed: kept.
      writeFileSync(join(src, 'current.log'), 'line 1\nline 2\nline 3\n');
      expect(spoolViolations(dir, mark)).toEqual([]);
      // Rotated and compressed, with retention dropping the oldest: kept.
      writeFileSync(join(src, '00000003.log.gz'), gzipSync('line 1\nline 2\nline 3\n'));
      writeFileSync(join(src, 'current.log'), '');
      rmSync(join(src, '00000001.log'));
      expect(spoolViolations(dir, mark)).toEqual([]);
      // A segment gone from the middle, and the lines lost.
      rmSync(join(src, '00000002.log'));
      writeFileSync(join(src, '00000001.log'), 'a\n');
      writeFileSync(join(src, '00000003.log.gz'), gzipSync('line 1\n'));
      const v = spoolViolations(dir, mark);
      expect(v.some((x) => x.includes('segment 2 is gone'))).toBe(true);
      expect(v.some((x) => x.includes('14 bytes'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes a whole current slot and names a payload file that does not match its manifest', () => {
    const root = mkdtempSync(join(tmpdir(), 'waveos-slot-inv-'));
    try {
      const group = join(root, 'var/lib/waveos/slots/app/demo');
      const id = 'a'.repeat(64);
      mkdirSync(join(group, id, 'payload'), { recursive: true });
      writeFileSync(join(group, id, 'payload/run.sh'), 'echo hi\n');
      const sha = '2f7ec5e6b9a1ea2e5e6b0e8c3b0b6e5c6b6a0b3d0a4fda2d2d4b4c2b1e2f3a4b';
      const manifest = (digest: string): string => JSON.stringify({ version: '1.2.3', files: [{ type: 'file', path: 'run.sh', size: 8, mode: 420, sha256: digest }] });
      writeFileSync(join(group, id, 'manifest.json'), manifest(createHash('sha256').update('echo hi\n').digest('hex')));
      writeFileSync(join(group, id, 'STATUS'), 'good\n');
      symlinkSync(id, join(group, 'current.tmp'));
      renameSync(join(group, 'current.tmp'), join(group, 'current'));
      expect(slotViolations(root)).toEqual({ groups: 1, versions: { 'app/demo': '1.2.3' }, violations: [] });
      writeFileSync(join(group, id, 'manifest.json'), manifest(sha));
      expect(slotViolations(root).violations).toEqual([`app/demo current -> ${id.slice(0, 12)}: run.sh does not match its manifest`]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('a child spawned but never recorded (found by the kill-storm)', () => {
  it('is found by its environment, as a group leader of this root only', async () => {
    const { spawn } = await import('node:child_process');
    const { unrecordedChildren } = await import('../daemon/services/index.js');
    const root = `/tmp/hil-unrecorded-${process.pid}`;
    const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, WAVEOS_SUPERVISOR_ROOT: root, WAVEOS_SERVICE: 'crasher' },
    });
    try {
      await new Promise((r) => c.once('spawn', r));
      const pid = c.pid as number;
      expect(unrecordedChildren(root, {})).toMatchObject({ crasher: { pid, run_id: '(unrecorded)' } });
      // A recorded child of the same name keeps its key; the stray gets its own.
      const recorded = { crasher: { pid: 1, start_time: 'x', run_id: 'r', started_at: '' } };
      expect(Object.keys(unrecordedChildren(root, recorded))).toEqual([`crasher#${pid}`]);
      expect(unrecordedChildren(root, { crasher: { pid, start_time: 'x', run_id: 'r', started_at: '' } })).toEqual({});
      expect(unrecordedChildren(`${root}-other`, {})).toEqual({});
    } finally {
      c.kill('SIGKILL');
    }
  });
});

describe('checkArtifacts', () => {
  function runs(layout: Record<string, { seq: number; kind?: string }[]>): string {
    const dir = mkdtempSync(join(tmpdir(), 'hil-artifacts-'));
    for (const [run, evs] of Object.entries(layout)) {
      mkdirSync(join(dir, run));
      writeFileSync(join(dir, run, 'events.jsonl'), evs.map((e) => `${JSON.stringify({ seq: e.seq, kind: e.kind ?? 'x' })}\n`).join(''));
      writeFileSync(join(dir, run, 'metrics.csv'), 'ts,metric,value,unit,labels\n2026-01-01T00:00:00.000Z,cpu,1,ratio,\n');
    }
    return dir;
  }

  it('orders runs by seq, not by name: a run named earlier by a clock that jumped back is fine', () => {
    const dir = runs({ '20261201T100000Z-a': [{ seq: 1 }, { seq: 2 }], '20261201T090000Z-b': [{ seq: 3 }, { seq: 4 }] });
    expect(checkArtifacts(dir, undefined)).toEqual([]);
    rmSync(dir, { recursive: true });
  });

  it('flags a seq that two runs both hold, and a seq that does not rise within a run', () => {
    const dir = runs({ r1: [{ seq: 1 }, { seq: 2 }, { seq: 3 }], r2: [{ seq: 3 }, { seq: 4 }], r3: [{ seq: 6 }, { seq: 5 }] });
    const v = checkArtifacts(dir, undefined);
    expect(v).toContain('r2/events.jsonl line 1: seq 3 after 3 in r1');
    expect(v).toContain('r3/events.jsonl line 2: seq 5 after 6');
    rmSync(dir, { recursive: true });
  });

  it('a run that began a new journal starts the count again, and only that one', () => {
    const ok = runs({ r1: [{ seq: 1 }, { seq: 2 }], r2: [{ seq: 1 }, { seq: 2, kind: 'journal.quarantined' }], r3: [{ seq: 3 }] });
    expect(checkArtifacts(ok, undefined)).toEqual([]);
    const bad = runs({ r1: [{ seq: 1 }, { seq: 2 }], r2: [{ seq: 1 }, { seq: 2 }] });
    expect(checkArtifacts(bad, undefined)).toEqual(['r2/events.jsonl line 1: seq 1 after 2 in r1']);
    rmSync(ok, { recursive: true });
    rmSync(bad, { recursive: true });
  });
});
