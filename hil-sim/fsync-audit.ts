import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * The power-loss audit: reads an `strace -f -tt -yy` log of the daemon and checks that what it commits would
 * survive a power cut — each replaced file is fsynced before its rename and its directory after, and the
 * journal's WAL is fsynced before the daemon tells a client that an action is done.
 */

export interface Call {
  /** Order in the log. */
  i: number;
  tid: number;
  name: string;
  args: string;
  ret: string;
}

/** Files whose replacement commits state; a rename onto one of these must be durable. */
export const COMMIT_TARGETS = ['run_meta.json', 'clean-stop.json', 'waveos.pid', 'tokens.json', 'latest', 'current'];

export interface AuditResult {
  calls: number;
  daemonCalls: number;
  renames: { target: string; checked: boolean; fileFsync: boolean | 'symlink'; dirFsync: boolean }[];
  unlinks: { target: string; dirFsync: boolean }[];
  acks: { at: number; walWritesBefore: number; synced: boolean }[];
  walWrites: number;
  walFsyncs: number;
  violations: string[];
  checked: string[];
}

const LINE = /^(\d+)\s+\S+\s+(.*)$/;

/** Parses the log, joining `<unfinished ...>` calls with their `<... resumed>` ends. */
export function parseStrace(text: string): Call[] {
  const out: Call[] = [];
  const open = new Map<number, string>();
  let i = 0;
  for (const raw of text.split('\n')) {
    const m = LINE.exec(raw);
    if (!m) continue;
    const tid = Number(m[1]);
    let rest = m[2] as string;
    if (rest.startsWith('+++') || rest.startsWith('---')) continue;
    if (rest.endsWith('<unfinished ...>')) {
      open.set(tid, rest.slice(0, -'<unfinished ...>'.length));
      continue;
    }
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest);
    if (resumed) {
      rest = `${open.get(tid) ?? `${resumed[1]}(`}${resumed[2]}`;
      open.delete(tid);
    }
    const call = /^(\w+)\((.*)\)\s+=\s+(.*)$/.exec(rest);
    if (!call) continue;
    out.push({ i: i++, tid, name: call[1] as string, args: call[2] as string, ret: call[3] as string });
  }
  return out;
}

/** The path strace -yy printed for the first fd argument: `23</a/b>` → `/a/b`. */
export function fdPath(args: string): string | undefined {
  const m = /^\d+<([^>]*)>/.exec(args);
  return m?.[1];
}

/** The quoted path arguments of a call, in order. */
function quoted(args: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(args))) out.push(m[1] as string);
  return out;
}

/** Thread → process: a clone with CLONE_THREAD stays in its parent's process, any other clone starts a new one. */
function processes(calls: Call[]): Map<number, number> {
  const tgid = new Map<number, number>();
  const first = calls[0]?.tid;
  if (first !== undefined) tgid.set(first, first);
  const pending: [number, number, boolean][] = [];
  for (const c of calls) {
    if (c.name !== 'clone' && c.name !== 'clone3') continue;
    const child = Number.parseInt(c.ret, 10);
    if (!(child > 0)) continue;
    pending.push([c.tid, child, c.args.includes('CLONE_THREAD')]);
  }
  // Parents may appear after their children in the log: resolve until nothing changes.
  for (let changed = true; changed; ) {
    changed = false;
    for (const [parent, child, thread] of pending) {
      if (tgid.has(child)) continue;
      const p = tgid.get(parent);
      if (p === undefined) continue;
      tgid.set(child, thread ? p : child);
      changed = true;
    }
  }
  return tgid;
}

export function auditStrace(text: string, root: string): AuditResult {
  const all = parseStrace(text);
  const tgid = processes(all);
  const daemonPid = all[0]?.tid;
  // strace itself execs the daemon's node: the first traced process is the daemon.
  const calls = all.filter((c) => daemonPid !== undefined && tgid.get(c.tid) === daemonPid && c.ret !== '-1' && !c.ret.startsWith('-1 '));
  const r: AuditResult = { calls: all.length, daemonCalls: calls.length, renames: [], unlinks: [], acks: [], walWrites: 0, walFsyncs: 0, violations: [], checked: [] };
  const isSync = (c: Call): boolean => c.name === 'fsync' || c.name === 'fdatasync';
  const isWrite = (c: Call): boolean => c.name === 'write' || c.name === 'pwrite64' || c.name === 'writev';
  const symlinks = new Set<string>();
  for (const c of calls) {
    if (c.name === 'symlink') symlinks.add(quoted(c.args)[1] ?? '');
    if (c.name === 'symlinkat') symlinks.add(quoted(c.args)[1] ?? '');
  }

  for (const c of calls) {
    if (c.name !== 'rename' && c.name !== 'renameat' && c.name !== 'renameat2') continue;
    const [from, to] = quoted(c.args);
    if (from === undefined || to === undefined || !to.startsWith(root)) continue;
    const target = basename(to);
    const commit = COMMIT_TARGETS.includes(target) || /tmp/.test(basename(from));
    if (!commit) {
      r.renames.push({ target: to.slice(root.length), checked: false, fileFsync: false, dirFsync: false });
      continue;
    }
    let fileFsync: boolean | 'symlink' = 'symlink';
    if (!symlinks.has(from)) {
      // After the last write to the temp file, and before the rename, an fsync of it.
      let lastWrite = -1;
      let synced = -1;
      for (const d of calls) {
        if (d.i >= c.i) break;
        if (fdPath(d.args) !== from) continue;
        if (isWrite(d)) lastWrite = d.i;
        if (isSync(d)) synced = d.i;
      }
      fileFsync = synced > lastWrite;
    }
    // After the rename, before this thread renames anything else or answers a client, an fsync of the directory.
    const dir = dirname(to);
    let dirFsync = false;
    for (const d of calls) {
      if (d.i <= c.i || d.tid !== c.tid) continue;
      if (isSync(d) && fdPath(d.args) === dir) {
        dirFsync = true;
        break;
      }
      if (d.name.startsWith('rename') || isResponse(d)) break;
    }
    r.renames.push({ target: to.slice(root.length), checked: true, fileFsync, dirFsync });
    r.checked.push(`rename ${to.slice(root.length)}`);
    if (!fileFsync) r.violations.push(`${to.slice(root.length)} was renamed into place without an fsync of ${basename(from)} after its last write`);
    if (!dirFsync) r.violations.push(`${to.slice(root.length)} was renamed into place without an fsync of ${dir.slice(root.length) || '/'} after`);
  }

  for (const c of calls) {
    if (c.name !== 'unlink') continue;
    const [p] = quoted(c.args);
    if (p === undefined || basename(p) !== 'clean-stop.json') continue;
    const dir = dirname(p);
    const dirFsync = calls.some((d) => d.i > c.i && d.tid === c.tid && isSync(d) && fdPath(d.args) === dir);
    r.unlinks.push({ target: p.slice(root.length), dirFsync });
    r.checked.push(`unlink ${basename(p)}`);
    if (!dirFsync) r.violations.push(`${p.slice(root.length)} was removed without an fsync of its directory`);
  }

  // The WAL: at each answer that reports an action done, no WAL write may still be unsynced.
  let unsynced = 0;
  let sinceLastAck = 0;
  for (const c of calls) {
    const p = fdPath(c.args);
    if (p?.endsWith('.db-wal')) {
      if (isWrite(c)) {
        r.walWrites++;
        unsynced++;
        sinceLastAck++;
      }
      if (isSync(c)) {
        r.walFsyncs++;
        unsynced = 0;
      }
    }
    if (isResponse(c) && c.args.includes('intent_id')) {
      r.acks.push({ at: c.i, walWritesBefore: sinceLastAck, synced: unsynced === 0 });
      r.checked.push('wal synced before an action is acknowledged');
      if (unsynced > 0) r.violations.push(`an action was acknowledged to a client with ${unsynced} WAL writes not yet fsynced (log entry ${c.i})`);
      if (sinceLastAck === 0) r.violations.push(`an action was acknowledged with no journal write since the previous acknowledgement (log entry ${c.i})`);
      sinceLastAck = 0;
    }
  }
  return r;
}

function isResponse(c: Call): boolean {
  return (c.name === 'write' || c.name === 'writev') && /^\d+<UNIX-STREAM/.test(c.args) && c.args.includes('HTTP/1.1 ');
}

export function auditFile(file: string, root: string): AuditResult {
  return auditStrace(readFileSync(file, 'utf8'), root);
}
