import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { apiCall } from '../../daemon/api/index.js';
import { pathsFor } from '../../daemon/core/index.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const BIN = join(REPO, 'bin/waveos.js');

export function tempRoot(prefix = 'waveos-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeRoot(root: string): void {
  // A killed child that is still being reaped may write once more: retry for a while rather than
  // fail the test on ENOTEMPTY, since the test itself has passed by then.
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EBUSY') || Date.now() > end) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `waveos` command, as an operator would. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until `fn` returns a value other than undefined, or fails after `ms`. */
export async function waitFor<T>(what: string, fn: () => T | undefined, ms = 15_000, every = 50): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

export interface DaemonExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface DaemonOptions {
  /** A file the daemon's stdout and stderr are appended to (a long run's log); without it they go to `output`. */
  logFile?: string;
  /** A program that runs the daemon, with its arguments (strace): node and the daemon's argv follow them. */
  wrapper?: readonly string[];
}

/** The last lines of a log file on one line, for a failure message. */
export function logTail(file: string, lines = 3): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join(' | ').slice(0, 800);
  } catch {
    return '(no log)';
  }
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * One real `waveos run` on a root, as the tests and the HIL rig start it: spawned, watched until it answers,
 * signalled, and its exit and output kept.
 */
export class DaemonProcess {
  readonly proc: ChildProcess;
  /** The daemon's own pid; under a wrapper the caller may set it from the pid file once the daemon is up. */
  pid: number;
  exited = false;
  /** stdout and stderr together, when they are not going to a log file. */
  output = '';
  readonly exit: Promise<DaemonExit>;

  constructor(
    readonly root: string,
    args: string[] = [],
    env: NodeJS.ProcessEnv = {},
    private readonly opts: DaemonOptions = {},
  ) {
    const argv = [BIN, 'run', '--root', root, '--log-format', 'json', ...args];
    const [cmd, ...pre] = opts.wrapper?.length ? [...opts.wrapper, process.execPath] : [process.execPath];
    const log = opts.logFile === undefined ? undefined : openSync(opts.logFile, 'a');
    this.proc = spawn(cmd as string, [...pre, ...argv], {
      env: { ...process.env, ...env },
      stdio: log === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', log, log],
    });
    if (log !== undefined) closeSync(log);
    this.proc.stdout?.on('data', (c: Buffer) => (this.output += c.toString()));
    this.proc.stderr?.on('data', (c: Buffer) => (this.output += c.toString()));
    this.pid = this.proc.pid ?? -1;
    this.exit = new Promise((res) =>
      this.proc.on('exit', (code, signal) => {
        this.exited = true;
        res({ code, signal });
      }),
    );
  }

  get socket(): string {
    return pathsFor(this.root).socket;
  }

  /** What it printed (the last lines of its log file), for a failure message. */
  recentOutput(lines = 3): string {
    return this.opts.logFile === undefined ? this.output : `(see ${this.opts.logFile}) ${logTail(this.opts.logFile, lines)}`;
  }

  /**
   * Waits until `GET /v1/status` answers 200 (with `env`'s WAVEOS_TOKEN, as `waveos status` would send it) and
   * returns that status; fails early if the daemon exits.
   */
  async ready(ms = 20_000, env: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>> {
    const token = (env.WAVEOS_TOKEN ?? process.env.WAVEOS_TOKEN)?.trim() || undefined;
    const end = Date.now() + ms;
    for (;;) {
      if (this.exited) throw new Error(`daemon exited during start: ${this.recentOutput()}`);
      // Token-less, as the CLI of root or the daemon's user would: on the admin socket (the token socket would deny it in prod).
      const socketPath = token === undefined ? pathsFor(this.root).adminSocket : this.socket;
      const r = await apiCall({ socketPath, token, timeoutMs: 5_000 }, 'GET', '/v1/status').catch(() => undefined);
      if (r?.status === 200) return r.body as Record<string, unknown>;
      if (Date.now() > end) throw new Error(`daemon did not answer status within ${ms} ms: ${this.recentOutput()}`);
      await sleep(100);
    }
  }

  /** Sends `signal` to the daemon itself and waits until it is gone. */
  async kill(signal: NodeJS.Signals): Promise<DaemonExit> {
    // A pid of -1 (the spawn failed) would signal every process we may signal.
    if (!this.exited && this.pid > 0) {
      try {
        process.kill(this.pid, signal);
      } catch {
        // already gone
      }
    }
    if (this.proc.pid !== this.pid) await this.releaseWrapper();
    return this.exit;
  }

  /**
   * A wrapper (strace) lives on while it still traces the daemon's children: wait for the daemon itself, then
   * let the wrapper go (its tracees are detached and left as a crash would leave them).
   */
  private async releaseWrapper(): Promise<void> {
    for (let i = 0; i < 600 && isAlive(this.pid); i++) await sleep(50);
    await Promise.race([this.exit, sleep(3_000)]);
    if (this.exited) return;
    this.proc.kill('SIGTERM');
    await Promise.race([this.exit, sleep(5_000)]);
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}

export function artifactsDir(root: string): string {
  return join(root, 'var/lib/waveos/artifacts');
}

export function runFolders(root: string): string[] {
  return readdirSync(artifactsDir(root), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

export function readJsonl(file: string): Record<string, unknown>[] {
  const text = readFileSync(file, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** An admin token made offline on `root` (how a prod board gets its first token); returns the env to use it. */
export function adminTokenEnv(root: string, name = 'test-admin'): NodeJS.ProcessEnv {
  const r = cli(['token', 'create', name, '--role', 'admin', '--offline', '--json', '--root', root]);
  if (r.code !== 0) throw new Error(`token create failed: ${r.stderr}`);
  return { WAVEOS_TOKEN: (JSON.parse(r.stdout) as { token: string }).token };
}
