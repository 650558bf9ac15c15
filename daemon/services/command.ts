import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number | null;
  signal: string | null;
  /** Set when the command could not be started at all. */
  error?: string;
}

/**
 * Runs a short command to its end — an app bundle's health check, the reboot command — and kills it with
 * SIGKILL after `timeoutMs`. Never rejects: a command that cannot start says so in `error`.
 */
export function runCommand(argv: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<CommandResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.resolve({ code: null, signal: null, error: 'no command given' });
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: 'ignore' });
    const timer = setTimeout(() => c.kill('SIGKILL'), opts.timeoutMs);
    c.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, error: e.message });
    });
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}
