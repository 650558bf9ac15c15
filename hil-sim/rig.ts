import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RawResponse, rawRequest } from '../daemon/api/index.js';
import { fsyncPath } from '../daemon/core/index.js';
import { BIN, DaemonProcess, REPO, logTail, sleep } from '../test/helpers/daemon.js';
import { type CliResult, runCommand } from './host.js';
import { type FsStats, PowercutFs, mountedType, sleepSync } from './powercut/powercut.js';

export { type CliResult, runCommand } from './host.js';

export { BIN, REPO, isAlive, sleep } from '../test/helpers/daemon.js';
export const EXAMPLES = join(REPO, 'hil-sim/services');
/** Every process a rig starts carries this variable with the rig's root, so leftovers can be found in /proc. */
export const MARK = 'WAVEOS_HIL_MARK';
export const CANARY_ENV = 'WAVEOS_HIL_CANARY';

/** An answer of the control API as the rig sees it: status, headers, text and parsed body. */
export type ApiResult = RawResponse;

/** A service entry running one of the example scripts with this node. `{root}` is replaced by the daemon. */
export function example(name: string, script: string, args: string[] = [], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, command: process.execPath, args: [join(EXAMPLES, script), ...args], ...extra };
}

/** The load every scenario runs unless it says otherwise: steady, flooding and crashing services. */
export function loadServices(seed: number): Record<string, unknown>[] {
  return [
    example('healthy', 'healthy.mjs', ['--heartbeat', '{root}/run/waveos/hb/healthy', '--heartbeat-ms', '500'], {
      health: { kind: 'heartbeat', file: '{root}/run/waveos/hb/healthy', max_age: '10s', interval: '2s', failures: 3, start_grace: '5s' },
    }),
    example('flooder', 'flooder.mjs', ['--seed', String(seed), '--period-s', '1', '--burst-lines', '300']),
    example('crasher', 'crasher.mjs', ['--seed', String(seed), '--mean-s', '4']),
  ];
}

export interface RigOptions {
  name: string;
  seed: number;
  services?: Record<string, unknown>[];
  /** Extra top-level config keys (merged over the rig's defaults). */
  config?: Record<string, unknown>;
  /** Run the root on a fresh tmpfs of this many MiB (needs root privileges). */
  tmpfsMiB?: number;
  /**
   * Run the root on powercut-fs over `base/disk` (needs root and a built filesystem: `ensurePowercutFs()`), with a
   * tmpfs at `root/run` as on a board; `powerCut()` then cuts the power.
   */
  powerCut?: boolean;
}

/** The rig's daemon: the tests' harness, its output in the rig's log file. */
export type Daemon = DaemonProcess;

/** One daemon root in a throwaway folder, with its config, its secret canary and the processes it started. */
export class Rig {
  readonly base: string;
  readonly root: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly canary: string;
  readonly services: Record<string, unknown>[];
  daemon: Daemon | undefined;
  starts = 0;
  private mounted = false;
  /** The power-loss filesystem under the root, when `powerCut` is set. */
  readonly fs: PowercutFs | undefined;

  constructor(readonly opts: RigOptions) {
    this.base = mkdtempSync(join(tmpdir(), `waveos-hil-${opts.name}-`));
    this.root = join(this.base, 'root');
    mkdirSync(this.root, { recursive: true });
    if (opts.tmpfsMiB) {
      const r = spawnSyncCode('mount', ['-t', 'tmpfs', '-o', `size=${opts.tmpfsMiB}m`, 'tmpfs', this.root]);
      if (r !== 0) throw new Error(`cannot mount a ${opts.tmpfsMiB} MiB tmpfs at ${this.root} (needs root)`);
      this.mounted = true;
    }
    if (opts.powerCut) {
      this.fs = new PowercutFs(this.root, join(this.base, 'disk'), join(this.base, 'powercut-stats.json'), join(this.base, 'powercut-fs.log'));
      this.fs.mount();
      this.mountRun();
    }
    this.configFile = join(this.root, 'etc/waveos/waveos.yaml');
    this.logFile = join(this.base, 'daemon.log');
    this.canary = `hil-canary-${randomBytes(12).toString('hex')}`;
    this.services = opts.services ?? loadServices(opts.seed);
    this.writeConfig();
  }

  get socket(): string {
    return join(this.root, 'run/waveos/waveos.sock');
  }

  get db(): string {
    return join(this.root, 'var/lib/waveos/waveos.db');
  }

  configDoc(): Record<string, unknown> {
    return {
      schema_version: 2,
      profile: 'dev',
      device: { device_id: 'hil-rig', app_id: 'hil', environment: 'test' },
      artifacts: { flush_interval: '200ms' },
      telemetry: { sample_interval: '1s', prometheus: { enabled: false } },
      secrets: { 'hil.canary': { env: CANARY_ENV } },
      recovery: { backoff_initial: '200ms', backoff_max: '2s', jitter: 0, crash_loop: { exits: 1000, window: '1m' } },
      services: this.services,
      ...this.opts.config,
    };
  }

  /** The config as JSON (which is YAML) at the default location, so a start without --config reads it. */
  writeConfig(doc: Record<string, unknown> = this.configDoc()): void {
    mkdirSync(join(this.root, 'etc/waveos'), { recursive: true });
    writeFileSync(this.configFile, `${JSON.stringify(doc, null, 2)}\n`);
    // Provisioning is done before power can fail: on powercut-fs an unsynced config would be empty after a cut.
    if (this.opts.powerCut) fsyncPath(this.configFile);
  }

  /** The backing directory of powercut-fs: at a cut, after every process died, exactly the durable bytes. */
  get disk(): string {
    return join(this.base, 'disk');
  }

  /** fsyncs every file under `root/DIR` (what the rig provisioned there, e.g. trusted keys, on powercut-fs). */
  syncProvisioned(dir = 'etc'): void {
    const visit = (p: string): void => {
      const st = lstatSync(p);
      if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
      else if (st.isFile()) fsyncPath(p);
    };
    visit(join(this.root, dir));
  }

  /** `/run` is a tmpfs on a board: empty after every power cut, and not on the flash. */
  private mountRun(): void {
    const run = join(this.root, 'run');
    mkdirSync(run, { recursive: true });
    if (spawnSyncCode('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'tmpfs', run]) !== 0) throw new Error(`cannot mount a tmpfs at ${run} (needs root)`);
  }

  private unmountRun(): void {
    const run = join(this.root, 'run');
    for (let i = 0; i < 50 && mountedType(run) === 'tmpfs'; i++) {
      spawnSyncCode('umount', ['-l', run]);
      if (mountedType(run) === 'tmpfs') sleepSync(20);
    }
  }

  /** SIGKILLs the daemon and every process of the root, and waits until none is left. */
  async killAll(): Promise<void> {
    const d = this.daemon;
    for (let i = 0; i < 200; i++) {
      const left = this.marked();
      if (d && !d.exited) left.push({ pid: d.pid, service: undefined, daemon: true });
      if (left.length === 0) break;
      for (const p of left) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await sleep(25);
    }
    if (d) await Promise.race([d.exit, sleep(5_000)]);
  }

  /**
   * A power cut: the daemon, its services and every other process of the root die at once; then `atCut` runs
   * while the backing directory holds exactly what was durable; then the filesystem process is SIGKILLed (the
   * unsynced data is gone), the mounts are detached, and a fresh filesystem and an empty `/run` are mounted.
   * Returns the filesystem's counters at the cut (`dirty_bytes` is what was dropped).
   */
  async powerCut(atCut?: (disk: string) => void | Promise<void>): Promise<FsStats | undefined> {
    const fs = this.fs;
    if (!fs) throw new Error('powerCut() needs a rig made with powerCut: true');
    await this.killAll();
    await atCut?.(this.disk);
    this.unmountRun();
    const stats = await fs.cut();
    fs.mount();
    this.mountRun();
    return stats;
  }

  env(): NodeJS.ProcessEnv {
    return { ...process.env, [MARK]: this.root, [CANARY_ENV]: this.canary, WAVEOS_ROOT: undefined };
  }

  /** Starts `waveos run --root ROOT`, optionally under strace; does not wait for readiness. */
  spawnDaemon(extraArgs: string[] = [], straceFile?: string, envOverride: NodeJS.ProcessEnv = {}): Daemon {
    const wrapper = straceFile
      ? ['strace', '-f', '-tt', '-yy', '-s', '4096', '-e', 'trace=openat,write,writev,pwrite64,fsync,fdatasync,rename,renameat,renameat2,unlink,symlink,symlinkat,clone,clone3', '-o', straceFile]
      : undefined;
    const d = new DaemonProcess(this.root, extraArgs, { ...this.env(), ...envOverride }, { logFile: this.logFile, ...(wrapper ? { wrapper } : {}) });
    this.starts++;
    this.daemon = d;
    return d;
  }

  /** A start with some environment variables changed (undefined removes one). */
  spawnDaemonWithEnv(envOverride: NodeJS.ProcessEnv): Daemon {
    return this.spawnDaemon([], undefined, envOverride);
  }

  /** Starts the daemon and waits until `status` answers; returns the time it took in ms. */
  async start(extraArgs: string[] = [], timeoutMs = 60_000, straceFile?: string): Promise<number> {
    const t0 = Date.now();
    const d = this.spawnDaemon(extraArgs, straceFile);
    await this.waitReady(timeoutMs, d);
    if (straceFile) d.pid = this.pidFromFile() ?? d.pid;
    return Date.now() - t0;
  }

  pidFromFile(): number | undefined {
    try {
      return (JSON.parse(readFileSync(join(this.root, 'run/waveos/waveos.pid'), 'utf8')) as { pid: number }).pid;
    } catch {
      return undefined;
    }
  }

  waitReady(timeoutMs = 60_000, d = this.daemon): Promise<Record<string, unknown>> {
    if (!d) return Promise.reject(new Error('waitReady: no daemon was started'));
    return d.ready(timeoutMs);
  }

  logTail(lines = 3): string {
    return logTail(this.logFile, lines);
  }

  /** SIGKILL (or another signal) to the daemon itself; waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.daemon?.kill(signal);
  }

  /** Runs the real `waveos` command against this root. */
  cli(args: string[], timeoutMs = 60_000): Promise<CliResult> {
    return runCommand(process.execPath, [BIN, ...args, '--root', this.root], this.env(), timeoutMs);
  }

  /** One HTTP request over the control socket, with whatever method, path, headers and body the caller wants. */
  api(method: string, path: string, body?: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<ApiResult> {
    return rawRequest(this.socket, { method, path, headers, ...(body === undefined ? {} : { body }), timeoutMs });
  }

  /** Processes of this root (the daemon's children carry the mark in their environment). */
  marked(): MarkedProcess[] {
    return markedProcesses(MARK, this.root);
  }

  async cleanup(): Promise<void> {
    const d = this.daemon;
    if (d && !d.exited) {
      try {
        process.kill(d.pid, 'SIGKILL');
      } catch {
        // gone
      }
      d.proc.kill('SIGKILL');
      await Promise.race([d.exit, sleep(5_000)]);
    }
    for (const p of this.marked()) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (this.mounted) {
      await sleep(200);
      spawnSyncCode('umount', ['-l', this.root]);
    }
    if (this.fs) {
      await this.killAll();
      this.unmountRun();
      await this.fs.unmount();
    }
    rmSync(this.base, { recursive: true, force: true });
  }
}

function spawnSyncCode(cmd: string, args: string[]): number {
  // Only for mount/umount: short, and the rig cannot go on before they finish.
  return spawnSync(cmd, args, { stdio: 'ignore' }).status ?? -1;
}

export interface MarkedProcess {
  pid: number;
  service: string | undefined;
  /** A `waveos run` process itself (not a CLI call, not strace). */
  daemon: boolean;
}

/** Live (non-zombie) processes whose environment carries `KEY=value`, with the service they were started for. */
export function markedProcesses(key: string, value: string): MarkedProcess[] {
  const out: MarkedProcess[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (/\) [ZX] /.test(stat)) continue;
      const env = readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      if (!env.includes(`${key}=${value}`)) continue;
      const svc = env.find((e) => e.startsWith('WAVEOS_SERVICE='))?.slice('WAVEOS_SERVICE='.length);
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      const daemon = argv.some((a, i) => a.endsWith('bin/waveos.js') && argv[i + 1] === 'run') && !argv[0]?.endsWith('strace');
      out.push({ pid: Number(d), service: svc, daemon });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
