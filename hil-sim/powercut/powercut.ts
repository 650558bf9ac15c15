import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { aptInstall, runCommand } from '../host.js';

// The write-back FUSE filesystem that forgets unsynced data at a simulated power cut (model: powercut-fs.c).

export const POWERCUT_SRC = join(import.meta.dirname, 'powercut-fs.c');
export const POWERCUT_BUILD = join(import.meta.dirname, 'build');
export const POWERCUT_BIN = join(POWERCUT_BUILD, 'powercut-fs');
const APT_PACKAGES = ['fuse3', 'libfuse3-dev', 'pkg-config', 'gcc'];

/** What the filesystem process counted since it was mounted; `dirty_*` is what a cut now would drop. */
export interface FsStats {
  seq: number;
  pid: number;
  writes: number;
  bytes_written: number;
  truncates: number;
  fsyncs: number;
  fdatasyncs: number;
  fsyncdirs: number;
  files_synced: number;
  bytes_durable: number;
  dirty_files: number;
  dirty_bytes: number;
  pending_truncations: number;
  stale_dropped: number;
  unlinked_dropped: number;
  unlinked_dropped_bytes: number;
  /** [backing inode, dirty bytes] of the first 64 inodes holding unsynced data. */
  dirty: [number, number][];
}


function has(cmd: string, args: string[]): boolean {
  try {
    return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  } catch {
    return false;
  }
}

function toolsPresent(): boolean {
  return has('gcc', ['--version']) && has('pkg-config', ['--exists', 'fuse3']) && has('fusermount3', ['-V']);
}

/**
 * Builds the filesystem when the binary is missing or older than its source, installing the compiler and
 * libfuse from apt first when they are missing (a fresh CI machine). Returns the binary's path.
 */
export async function ensurePowercutFs(log?: (line: string) => void): Promise<string> {
  if (!existsSync('/dev/fuse')) throw new Error('powercut-fs needs /dev/fuse');
  const fresh = existsSync(POWERCUT_BIN) && statSync(POWERCUT_BIN).mtimeMs >= statSync(POWERCUT_SRC).mtimeMs;
  if (fresh && has('fusermount3', ['-V'])) return POWERCUT_BIN;
  await aptInstall(APT_PACKAGES, toolsPresent, log);
  if (fresh) return POWERCUT_BIN;
  mkdirSync(POWERCUT_BUILD, { recursive: true });
  const flags = spawnSync('pkg-config', ['fuse3', '--cflags', '--libs'], { encoding: 'utf8' }).stdout.trim().split(/\s+/).filter(Boolean);
  // Built beside the binary and renamed over it, so a concurrent run never executes a half-written file.
  const tmp = `${POWERCUT_BIN}.${process.pid}.tmp`;
  const c = await runCommand('gcc', ['-Wall', '-Wextra', '-O2', '-o', tmp, POWERCUT_SRC, ...flags, '-lpthread'], process.env, 120_000);
  if (c.code !== 0) throw new Error(`gcc failed: ${`${c.stdout}${c.stderr}`.slice(-2000)}`);
  renameSync(tmp, POWERCUT_BIN);
  log?.(`built ${POWERCUT_BIN}`);
  return POWERCUT_BIN;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** A synchronous pause, for the few places (a constructor) that must wait for a mount. */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** The fstype of what is mounted at `path` now (the top of the stack), or undefined. */
export function mountedType(path: string): string | undefined {
  let type: string | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 0) continue;
    const mp = (f[4] ?? '').replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === path) type = f[dash + 1];
  }
  return type;
}

/** Paths under `dir` (relative) of the given inode numbers: which files held unsynced data at a cut. */
export function pathsOfInodes(dir: string, inodes: Iterable<number>): Map<number, string> {
  const want = new Set(inodes);
  const out = new Map<number, string>();
  const visit = (p: string, rel: string): void => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    if (want.has(st.ino) && st.isFile()) out.set(st.ino, rel);
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n), rel ? `${rel}/${n}` : n);
  };
  if (want.size) visit(dir, '');
  return out;
}

/** One mount of powercut-fs over a backing directory; `cut()` is the power cut. */
export class PowercutFs {
  proc: ChildProcess | undefined;
  private exit: Promise<void> = Promise.resolve();
  /** Counters of every process cut so far, read at the instant before each cut. */
  readonly history: FsStats[] = [];

  constructor(
    readonly mountpoint: string,
    readonly backing: string,
    readonly statsFile: string,
    readonly logFile: string,
    readonly bin = POWERCUT_BIN,
  ) {}

  get mounted(): boolean {
    return mountedType(this.mountpoint) === 'fuse.powercut';
  }

  /** Starts a fresh filesystem process and waits until the mount is there. */
  mount(timeoutMs = 15_000): void {
    mkdirSync(this.mountpoint, { recursive: true });
    mkdirSync(this.backing, { recursive: true });
    const log = openSync(this.logFile, 'a');
    // Not the rig's environment: a cut kills every process marked with the rig's root, and this one dies last.
    const env = { ...process.env };
    delete env.WAVEOS_HIL_MARK;
    const proc = spawn(
      this.bin,
      [this.mountpoint, '-f', '-s', '-o', `backing=${this.backing},stats=${this.statsFile},fsname=powercut,subtype=powercut,default_permissions,allow_other,attr_timeout=0,entry_timeout=0,negative_timeout=0`],
      { env, stdio: ['ignore', log, log] },
    );
    closeSync(log);
    this.proc = proc;
    this.exit = new Promise((res) => proc.on('exit', () => res()));
    let exited = false;
    proc.on('exit', () => (exited = true));
    const end = Date.now() + timeoutMs;
    while (!this.mounted) {
      if (exited || proc.exitCode !== null) throw new Error(`powercut-fs exited before mounting ${this.mountpoint}: ${this.logTail()}`);
      if (Date.now() > end) throw new Error(`powercut-fs did not mount ${this.mountpoint} within ${timeoutMs} ms: ${this.logTail()}`);
      sleepSync(20);
    }
  }

  private logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').trim().split('\n').slice(-3).join(' | ');
    } catch {
      return '(no log)';
    }
  }

  /** Asks the process for its counters (SIGUSR1) and waits for the file it writes. */
  async stats(timeoutMs = 5_000): Promise<FsStats | undefined> {
    const p = this.proc;
    if (!p?.pid || p.exitCode !== null) return undefined;
    const before = this.readStats();
    const seq = before?.pid === p.pid ? before.seq : 0;
    p.kill('SIGUSR1');
    for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) {
      const s = this.readStats();
      if (s && s.pid === p.pid && s.seq > seq) return s;
    }
    return undefined;
  }

  private readStats(): FsStats | undefined {
    try {
      return JSON.parse(readFileSync(this.statsFile, 'utf8')) as FsStats;
    } catch {
      return undefined;
    }
  }

  /**
   * The power cut: the process is SIGKILLed (its memory, the unsynced data, is gone) and the mount lazily
   * detached. Whatever is mounted inside must be unmounted by the caller first. Returns the counters read
   * at the instant before the kill.
   */
  async cut(): Promise<FsStats | undefined> {
    const s = await this.stats();
    if (s) this.history.push(s);
    this.proc?.kill('SIGKILL');
    await this.exit;
    this.detach();
    return s;
  }

  /** A clean unmount (the process exits on its own and writes its counters). */
  async unmount(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) {
      this.detach();
      return;
    }
    spawnSync('fusermount3', ['-u', '-z', this.mountpoint], { stdio: 'ignore' });
    const done = await Promise.race([this.exit.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
    if (!done) {
      this.proc.kill('SIGKILL');
      await this.exit;
    }
    this.detach();
  }

  private detach(): void {
    for (let i = 0; i < 50 && mountedType(this.mountpoint)?.startsWith('fuse'); i++) {
      if (spawnSync('fusermount3', ['-u', '-z', this.mountpoint], { stdio: 'ignore' }).status !== 0) spawnSync('umount', ['-l', this.mountpoint], { stdio: 'ignore' });
      if (mountedType(this.mountpoint)?.startsWith('fuse')) sleepSync(20);
    }
  }

  /** The counters summed over every cut so far (what was dirty at each cut is in `history`). */
  totals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.history) {
      for (const [k, v] of Object.entries(s)) {
        if (typeof v !== 'number' || k === 'seq' || k === 'pid' || k.startsWith('dirty')) continue;
        out[k] = (out[k] ?? 0) + v;
      }
    }
    return out;
  }
}
