import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../..');
export const BIN = join(REPO, 'bin/waveos.js');

export function tempRoot(prefix = 'waveos-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
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

export class DaemonProcess {
  readonly proc: ChildProcess;
  output = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly root: string,
    args: string[] = [],
    env: NodeJS.ProcessEnv = {},
  ) {
    this.proc = spawn(process.execPath, [BIN, 'run', '--root', root, '--log-format', 'json', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout?.on('data', (c: Buffer) => (this.output += c.toString()));
    this.proc.stderr?.on('data', (c: Buffer) => (this.output += c.toString()));
    this.exit = new Promise((res) => this.proc.on('exit', (code, signal) => res({ code, signal })));
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  /** Waits until `waveos status --json` answers; fails early if the daemon exits. */
  async ready(ms = 20_000, env: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>> {
    let exited = false;
    void this.exit.then(() => (exited = true));
    return waitFor(
      'waveos status to answer',
      () => {
        if (exited) throw new Error(`daemon exited during start:\n${this.output}`);
        const r = cli(['status', '--json', '--root', this.root], env);
        return r.code === 0 ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined;
      },
      ms,
      100,
    );
  }

  async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.proc.kill(signal);
    return this.exit;
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
