import { spawn } from 'node:child_process';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to its end (or its time limit), collecting what it prints. */
export function runCommand(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((res) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      res({ code: -1, stdout, stderr: `${stderr}${e.message}`, ms: Date.now() - t0 });
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      res({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/**
 * Installs Debian packages a scenario needs unless `present()` says they are there: a plain install first, and
 * `apt-get update` then another install when that fails (a fresh machine has no package lists yet).
 */
export async function aptInstall(packages: readonly string[], present: () => boolean, log?: (line: string) => void): Promise<void> {
  if (present()) return;
  log?.(`installing ${packages.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): Promise<CliResult> => runCommand('apt-get', ['install', '-y', '--no-install-recommends', ...packages], env, 600_000);
  let r = await install();
  if (r.code !== 0) {
    const u = await runCommand('apt-get', ['update'], env, 600_000);
    if (u.code !== 0) throw new Error(`apt-get update failed: ${`${u.stdout}${u.stderr}`.slice(-500)}`);
    r = await install();
  }
  if (r.code !== 0 || !present()) throw new Error(`apt-get install ${packages.join(' ')} failed: ${`${r.stdout}${r.stderr}`.slice(-500)}`);
}
